"""Results and usage counters shared by the vendors and the client."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

__all__ = ["BatchResult", "EmbeddingResult", "SparseVector", "Usage", "UsageCounter"]

SparseVector = dict[int, float]


@dataclass
class Usage:
    """What a call consumed; vendors fill the fields they report."""

    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    total_tokens: int = 0
    text_tokens: int = 0
    image_tokens: int = 0
    images: int = 0
    images_fitted: int = 0  # images resized or re-encoded to the vendor's limits before sending

    def add(self, other: Usage) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class UsageCounter:
    """A Usage that many threads and tasks add to at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()

    def add(self, usage: Usage) -> None:
        with self._lock:
            self._usage.add(usage)

    def __getstate__(self) -> dict:
        return {"usage": self.snapshot()}

    def __setstate__(self, state: dict) -> None:
        self._lock = threading.Lock()
        self._usage = state["usage"]

    def snapshot(self) -> Usage:
        with self._lock:
            copy = Usage()
            copy.add(self._usage)
            return copy


@dataclass
class BatchResult:
    """One response, parsed: a vector per item of the batch, in the batch's order."""

    vectors: list[list[float]]
    usage: Usage = field(default_factory=Usage)
    sparse: list[SparseVector] | None = None
    multi: list[list[list[float]]] | None = None


@dataclass
class EmbeddingResult:
    """A whole call: a vector per input, in input order, with sparse vectors and token-level
    multi-vectors (a list of vectors per input) when asked for."""

    vectors: list[list[float]]
    usage: Usage
    sparse: list[SparseVector] | None = None
    multi_vectors: list[list[list[float]]] | None = None
