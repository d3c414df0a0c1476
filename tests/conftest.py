"""Shared fixtures: the emulator on 127.0.0.1, fake credentials, small images on disk."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import pytest

from cn_embeddings.testing import Emulator
from tests._servers import shared_emulator

DATA = Path(__file__).resolve().parent / "data"


def png_bytes(width: int = 12, height: int = 12, color: tuple[int, int, int] = (200, 30, 30), pad: int = 0) -> bytes:
    """A real, decodable PNG (plus ``pad`` bytes of a text chunk to reach a size)."""
    raw = b"".join(b"\x00" + bytes(color) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    extra = chunk(b"tEXt", b"pad\x00" + b"x" * pad) if pad else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def emulator() -> Emulator:
    """The one emulator of the test session (also used by class-level suite parameters)."""
    return shared_emulator()


@pytest.fixture
def emu(emulator):
    """The shared emulator with a clean log and no faults."""
    from cn_embeddings.testing import Faults

    emulator.reset()
    emulator.faults = Faults()
    yield emulator
    emulator.faults = Faults()


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    paths = []
    for i, color in enumerate([(220, 20, 20), (20, 220, 20), (20, 20, 220)]):
        path = tmp_path / f"img{i}.png"
        path.write_bytes(png_bytes(color=color))
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def tc3_vectors() -> dict:
    return json.loads((DATA / "tc3_vectors.json").read_text())


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()
