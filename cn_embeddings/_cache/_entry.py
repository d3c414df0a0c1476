"""What a cache holds for one input: its key, and its value as bytes.

The key is a SHA-256 over length-prefixed fields, so that no two different sets of fields hash
alike by running into each other: the embedding space's id, the role and what the role is told
(Ark's instructions, ``extra_body``), and the exact input sent (a text after it was cut or split,
an image after it was fitted, a URL as it is: what is behind a URL is the vendor's to read).

The value is the vector as float32 (what every vendor computes in), the sparse vector and the
token-level vectors when the space asks for them, and the tokens the input cost.
"""

from __future__ import annotations

import hashlib
import json
import struct
from array import array
from dataclasses import dataclass
from typing import Any

from .._inputs import Item

__all__ = ["Entry", "decode", "encode", "key_of", "scope_of"]

_MAGIC = b"cne1"
_HEAD = struct.Struct("<4sIIQ")  # magic, dimensions, length of the JSON tail, tokens


@dataclass(frozen=True)
class Entry:
    vector: list[float] | array[float]  # a list as answered, float32 as read back
    sparse: dict[int, float] | None = None
    multi: list[array[float]] | None = None
    tokens: int = 0


def _field(digest: Any, value: bytes) -> None:
    digest.update(struct.pack("<Q", len(value)))
    digest.update(value)


def scope_of(space_id: str, role: str, told: Any) -> bytes:
    """The fields every key of one client shares: its space, its role and what the role is told."""
    digest = hashlib.sha256()
    for value in (space_id, role, json.dumps(told, sort_keys=True, ensure_ascii=False, default=str)):
        _field(digest, value.encode("utf-8", "surrogatepass"))
    return digest.digest()


def key_of(scope: bytes, item: Item) -> bytes:
    """The key of one sent input under a client's ``scope``."""
    digest = hashlib.sha256()
    _field(digest, scope)
    for name in ("text", "image", "video"):
        value = getattr(item, name)
        if value is None:
            _field(digest, b"")
            continue
        _field(digest, name.encode())
        if isinstance(value, str):
            _field(digest, value.encode("utf-8", "surrogatepass"))
        else:
            _field(digest, (value.url or "").encode("utf-8", "surrogatepass"))
            _field(digest, (value.format or "").encode())
            _field(digest, value.data or b"")
    _field(digest, repr(sorted(item.video_options)).encode())
    return digest.digest()


def encode(entry: Entry) -> bytes:
    tail: dict[str, Any] = {}
    if entry.sparse is not None:
        tail["sparse"] = [[int(k), float(v)] for k, v in entry.sparse.items()]
    if entry.multi is not None:
        tail["multi"] = [len(row) for row in entry.multi]
    tail_bytes = json.dumps(tail, separators=(",", ":")).encode() if tail else b""
    parts = [_HEAD.pack(_MAGIC, len(entry.vector), len(tail_bytes), entry.tokens), tail_bytes]
    parts.append(array("f", entry.vector).tobytes())
    for row in entry.multi or ():
        parts.append(array("f", row).tobytes())
    return b"".join(parts)


def decode(data: bytes) -> Entry:
    """The entry of ``data``, its vector as float32 ``array('f')`` (the caller makes a list of it
    when it needs one); ValueError when it is not an entry (a foreign or damaged value)."""
    try:
        magic, dims, tail_size, tokens = _HEAD.unpack_from(data)
    except struct.error:
        raise ValueError("not a cache entry") from None
    if magic != _MAGIC:
        raise ValueError("not a cache entry")
    view = memoryview(data)
    at = _HEAD.size
    tail = json.loads(bytes(view[at : at + tail_size])) if tail_size else {}
    at += tail_size
    vector = array("f")
    vector.frombytes(view[at : at + 4 * dims])
    at += 4 * dims
    if len(vector) != dims:
        raise ValueError("a truncated cache entry")
    multi = None
    if "multi" in tail:
        multi = []
        for size in tail["multi"]:
            row = array("f")
            row.frombytes(view[at : at + 4 * size])
            at += 4 * size
            multi.append(row)
    if at != len(data):
        raise ValueError("a cache entry of the wrong length")
    sparse = {int(k): float(v) for k, v in tail["sparse"]} if "sparse" in tail else None
    return Entry(vector, sparse, multi, tokens)
