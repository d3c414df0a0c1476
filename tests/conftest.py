"""Shared fixtures: the emulator on 127.0.0.1, fake credentials, small images on disk."""

from __future__ import annotations

import base64
import json
import os
import signal
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from cn_embeddings.testing import Emulator
from tests._servers import shared_emulator

DATA = Path(__file__).resolve().parent / "data"

# Learned quotas are not remembered between tests (a test that needs it turns it on), and nothing is
# written into the user's own cache folder.
os.environ["CN_EMBEDDINGS_REMEMBER_QUOTA"] = "0"
os.environ["CN_EMBEDDINGS_CACHE_DIR"] = tempfile.mkdtemp(prefix="cn-embeddings-cache-")

# A shell without job control starts a background job (`bash scripts/test.sh &`, nohup) with SIGINT
# ignored; Python then never raises KeyboardInterrupt, and the emulators and CLIs the tests start
# inherit the ignoring, so every test of Ctrl-C would fail and every emulator outlive its SIGINT.
# The suite restores Python's own handler (which a child's exec resets to the default).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def parse_python(source: str) -> Any:
    """``ast.parse``, again after a SystemError "AST constructor recursion depth mismatch": CPython
    before 3.11.8 raises it when another thread of the process parses at the same time (a framework
    inspecting a lambda's source; python/cpython#106905), whatever the source."""
    import ast

    for attempt in range(3):
        try:
            return ast.parse(source)
        except SystemError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def png_bytes(width: int = 16, height: int = 16, color: tuple[int, int, int] = (200, 30, 30), pad: int = 0) -> bytes:
    """A real, decodable PNG (plus ``pad`` bytes of a text chunk to reach a size)."""
    raw = b"".join(b"\x00" + bytes(color) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    extra = chunk(b"tEXt", b"pad\x00" + b"x" * pad) if pad else b""
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


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


@pytest.fixture(scope="session")
def redis_url():
    """A real redis-server on a free 127.0.0.1 port for the session (scripts/test.sh installs it).
    Missing is a failure, never a skip."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; scripts/test.sh installs it (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(autouse=True, scope="module")
def _collect_what_a_module_left_open():
    """Clients a test module never closed are collected as the module ends, with their sockets'
    ResourceWarnings ignored, so that no later test is blamed when the collector happens to run
    inside it (the tests that check for leaks run their own collection around what they check)."""
    yield
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
