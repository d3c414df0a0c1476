"""Deterministic vectors for the emulator, derived from the input.

Texts are feature-hashed (ASCII words, CJK characters and CJK bigrams), so
texts that share words get similar vectors and retrieval tests mean
something; media are hashed from their bytes or URL. A small dense
per-model component makes every coordinate non-zero, as real embeddings are.
All values are rounded to float32 so the float and base64 encodings of one
vector are equal.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import struct
from functools import lru_cache

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
        h = int.from_bytes(digest[8 * k: 8 * k + 8], "little")
        vector[h % dim] += weight if (h >> 63) else -weight


def embed(model: str, dim: int, *, text: str | None = None, media: list[bytes] = ()) -> list[float]:  # type: ignore[assignment]
    """Unit vector for one (possibly fused) input."""
    vector = list(_dense_base(model, dim))
    if text is not None:
        for token in tokens(text) or [text]:
            _add_feature(vector, b"t:" + token.encode("utf-8"), 1.0)
    for blob in media:
        _add_feature(vector, b"m:" + hashlib.sha256(blob).digest(), 3.0)
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return float32([x / norm for x in vector])


def float32(vector: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


def to_base64(vector: list[float]) -> str:
    import base64

    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
