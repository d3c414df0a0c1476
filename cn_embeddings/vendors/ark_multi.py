"""Ark's token-level multi-vectors (``multi_embedding``): which models give them, and the decoding
of an answer's rows, as JSON or as a zstd frame of float16, bounded so that a hostile answer stops
at the cap instead of inflating.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import io
import struct
from array import array

from .._exceptions import APIError, ConfigurationError
from ._common import all_finite, as_vector, malformed

__all__ = ["MULTI_DIMENSION", "MULTI_FROM", "MULTI_MAX_ROWS", "check_multi", "decode_multi"]

VENDOR = "ark"
# Token-level multi-vectors [Go SDK MultiEmbeddingDimension]; from -251215 [3P][INF].
MULTI_DIMENSION = 2048
MULTI_FROM = 251215
# At most this many rows per input (tokens): 512 MiB once decoded to float32. An answer beyond is
# refused, not retried; rows are inflated one batch at a time, so a hostile frame stops there.
MULTI_MAX_ROWS = 64 * 1024


def check_multi(model: str, endpoint: str, version: int | None, compression: str | None) -> None:
    if endpoint != "multimodal":
        raise ConfigurationError("multi_embedding is a feature of the multimodal endpoint")
    if version is not None and version < MULTI_FROM:
        raise ConfigurationError(
            f"{model} does not return multi-vectors; use doubao-embedding-vision-{MULTI_FROM} or later"
        )  # the first version with them [INF from the Go SDK's tests]
    if compression not in (None, "zstd"):
        raise ConfigurationError(
            f"multi_embedding_compression must be 'zstd' or None, got {compression!r} "
            "(blosc2 is reserved on the wire but unsupported)"
        )
    if compression == "zstd" and importlib.util.find_spec("zstandard") is None:
        raise ConfigurationError(
            "zstd multi-vectors need the zstandard package: pip install "
            "'cn-embeddings[multivector]' (or multi_embedding_compression=None)"
        )


def decode_multi(raw: object) -> list[array[float]]:
    """``data.multi_embedding``: a JSON array of 2048-d vectors, or base64 of a zstd frame holding a
    little-endian float16 matrix 2048 wide [Go SDK], as rows of float32 (``array('f')``: 4 bytes a
    value, where a list of Python floats takes 32). Rows are decoded one at a time, so no more than
    one row ever exists as Python floats; at most MULTI_MAX_ROWS rows."""
    if isinstance(raw, list):
        if any(isinstance(row, str) for row in raw) or any(
            isinstance(row, list) and len(row) != MULTI_DIMENSION for row in raw
        ):
            # arkruntime describes "per-modality" vectors, typed list[list[float] | str]; the Go SDK
            # token-level rows 2048 wide. Another shape is refused, never read as the other [SDK vs SDK]
            error = malformed(
                VENDOR,
                f"multi_embedding rows are not {MULTI_DIMENSION}-wide token vectors: the "
                "answer may be per-modality vectors (as one SDK describes them), which this "
                "client does not interpret",
                retryable=False,
            )
            raise error
        if len(raw) > MULTI_MAX_ROWS:
            raise _too_many_rows(len(raw))
        rows = [array("f", as_vector(row, VENDOR, "multi_embedding")) for row in raw]
    elif isinstance(raw, str):
        try:
            packed = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise malformed(VENDOR, "multi_embedding is not valid base64") from None
        rows = _unzstd_rows(packed)
    else:
        raise malformed(VENDOR, "multi_embedding missing (asked for with multi_embedding=True)")
    if not rows or any(len(row) != MULTI_DIMENSION for row in rows):
        raise malformed(VENDOR, f"multi_embedding rows must be {MULTI_DIMENSION} wide and at least one")
    return rows


def _too_many_rows(rows: int | None) -> APIError:
    """An answer over the cap; not retried: the same answer would come again, and be decoded again."""
    return malformed(
        VENDOR,
        f"multi_embedding has {rows if rows is not None else 'more'} rows; at most "
        f"{MULTI_MAX_ROWS} are decoded (inflation stops there)",
        retryable=False,
    )


ROW_BYTES = 2 * MULTI_DIMENSION  # one float16 row


def _unzstd_rows(packed: bytes) -> list[array[float]]:
    """The frame's rows, inflated and decoded one row at a time: the float16 matrix is never held
    whole, and inflation stops after MULTI_MAX_ROWS rows."""
    import zstandard

    rows: list[array[float]] = []
    pending = bytearray()
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(packed)) as reader:
            while chunk := reader.read(64 * ROW_BYTES):
                pending += chunk
                whole = len(pending) - len(pending) % ROW_BYTES
                for offset in range(0, whole, ROW_BYTES):
                    values = struct.unpack_from(f"<{MULTI_DIMENSION}e", pending, offset)
                    if not all_finite(values):
                        raise malformed(VENDOR, "multi_embedding holds a non-finite value")
                    rows.append(array("f", values))
                del pending[:whole]
                if len(rows) > MULTI_MAX_ROWS:
                    raise _too_many_rows(None)
    except zstandard.ZstdError as error:
        raise malformed(VENDOR, f"multi_embedding is not a valid zstd frame ({error})") from None
    if pending:
        raise malformed(
            VENDOR,
            f"multi_embedding holds {len(rows) * ROW_BYTES + len(pending)} bytes, not whole "
            f"rows of {MULTI_DIMENSION} float16 values",
        )
    return rows
