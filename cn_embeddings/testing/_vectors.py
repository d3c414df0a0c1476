"""Deterministic vectors for the emulator, derived from the input.

Texts are feature-hashed (ASCII words, CJK characters and CJK bigrams), so
texts that share words get similar vectors and retrieval tests mean
something; media are hashed from their bytes or URL. A small dense
per-model component makes every coordinate non-zero, as real embeddings are.
All values are rounded to float32 so the float and base64 encodings of one
vector are equal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import struct
from functools import lru_cache
from typing import Any

_PLACEHOLDER = re.compile(r'"\\u0000raw(\d+)\\u0000"')
_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]")
_FEATURES_PER_TOKEN = 4
_DENSE_WEIGHT = 0.02


def tokens(text: str) -> list[str]:
    found = _WORD.findall(text.lower())
    cjk = [t for t in found if len(t) == 1 and t >= "\u3400"]
    return found + [a + b for a, b in zip(cjk, cjk[1:], strict=False)]


@lru_cache(maxsize=64)
def _dense_base(model: str, dim: int) -> tuple[float, ...]:
    rng = random.Random(hashlib.sha256(model.encode()).digest())
    return tuple(rng.uniform(-1, 1) * _DENSE_WEIGHT for _ in range(dim))


def _add_feature(vector: list[float], key: bytes, weight: float) -> None:
    digest = hashlib.blake2b(key, digest_size=8 * _FEATURES_PER_TOKEN).digest()
    dim = len(vector)
    for k in range(_FEATURES_PER_TOKEN):
        h = int.from_bytes(digest[8 * k : 8 * k + 8], "little")
        vector[h % dim] += weight if (h >> 63) else -weight


def embed(model: str, dim: int, *, text: str | None = None, media: list[bytes] = ()) -> list[float]:  # type: ignore[assignment]
    """Unit vector for one (possibly fused) input (cached: benchmarks resend the same inputs, and
    the emulator must not be what limits them)."""
    return list(_embed_cached(model, dim, text, tuple(hashlib.sha256(m).digest() for m in media)))


@lru_cache(maxsize=4096)
def _embed_cached(model: str, dim: int, text: str | None, media: tuple[bytes, ...]) -> tuple[float, ...]:
    vector = list(_dense_base(model, dim))
    if text is not None:
        for token in tokens(text) or [text]:
            _add_feature(vector, b"t:" + token.encode("utf-8"), 1.0)
    for digest in media:
        _add_feature(vector, b"m:" + digest, 3.0)
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return tuple(float32([x / norm for x in vector]))


class Raw:
    """A JSON fragment already encoded (a cached vector), spliced in by :func:`dumps`."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def embed_json(
    model: str,
    dim: int,
    *,
    text: str | None = None,
    media: list[bytes] = (),  # type: ignore[assignment]
    encoding: str | None = "float",
) -> Raw:
    """The vector as it goes on the wire: a JSON list, or a base64 string for Ark's base64."""
    return _json_cached(model, dim, text, tuple(hashlib.sha256(m).digest() for m in media), encoding or "float")


@lru_cache(maxsize=4096)
def _json_cached(model: str, dim: int, text: str | None, media: tuple[bytes, ...], encoding: str) -> Raw:
    vector = list(_embed_cached(model, dim, text, media))
    return Raw(json.dumps(to_base64(vector)) if encoding == "base64" else json.dumps(vector))


def dumps(obj: object) -> str:
    """json.dumps that splices :class:`Raw` fragments in without re-encoding them."""
    fragments: list[str] = []

    def default(value: object) -> str:
        if isinstance(value, Raw):
            fragments.append(value.text)
            return f"\x00raw{len(fragments) - 1}\x00"
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    text = json.dumps(obj, ensure_ascii=False, default=default)
    return _PLACEHOLDER.sub(lambda match: fragments[int(match.group(1))], text) if fragments else text


def float32(vector: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


def to_base64(vector: list[float]) -> str:
    import base64

    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


MULTI_WIDTH = 2048
_IMAGE_ROWS = 4  # token rows the emulator gives each image or video


def multi_vectors(model: str, text: str | None, media: list[bytes], compression: str | None) -> Any:
    """Token-level vectors: one 2048-d row per text token and a few per medium, each the unit
    vector of that token alone, rounded to float16. With ``compression="zstd"`` the rows are sent
    as base64 of a zstd frame of little-endian float16 values, as Ark does."""
    rows = [embed(model, MULTI_WIDTH, text=token) for token in (tokens(text) or [text] if text else [])]
    for medium in media:
        rows += [embed(model, MULTI_WIDTH, text=f"medium {k}", media=[medium]) for k in range(_IMAGE_ROWS)]
    packed = struct.pack(f"<{len(rows) * MULTI_WIDTH}e", *(v for row in rows for v in row))
    if compression != "zstd":
        return [
            list(struct.unpack(f"<{MULTI_WIDTH}e", packed[i : i + 2 * MULTI_WIDTH]))
            for i in range(0, len(packed), 2 * MULTI_WIDTH)
        ]
    import zstandard

    return base64.b64encode(zstandard.ZstdCompressor().compress(packed)).decode("ascii")
