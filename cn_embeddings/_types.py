"""Results and usage counters shared by the vendors and the client."""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

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
    cache_hits: int = 0  # inputs (a split text's pieces each) answered by the cache, without a request
    cache_misses: int = 0  # inputs looked up in the cache and not found (sent, or repeats of one sent)

    def add(self, other: Usage) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class Answer(Protocol):
    """What a parsed answer holds for the drivers: its usage (embeddings: :class:`BatchResult`;
    rerank: :class:`RerankBatch`)."""

    usage: Usage


@dataclass
class RerankBatch:
    """One rerank response, parsed: a relevance score per document of the batch, in the batch's order."""

    scores: list[float]
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class Ranked:
    """One document of a ranking: its index among the documents given, and its score; unpacks as
    the pair ``(index, relevance_score)``."""

    index: int
    relevance_score: float

    def __iter__(self) -> Iterator[int | float]:
        return iter((self.index, self.relevance_score))


@dataclass
class RerankResult:
    """A whole rerank call: the documents best first (``top_n`` of them), and what it consumed."""

    results: list[Ranked]
    usage: Usage


class UsageCounter:
    """A Usage that many threads and tasks add to at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()

    def add(self, usage: Usage) -> None:
        with self._lock:
            self._usage.add(usage)

    def __getstate__(self) -> dict[str, Any]:
        return {"usage": self.snapshot()}

    def __setstate__(self, state: dict[str, Any]) -> None:
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
    multi: list[list[array[float]]] | None = None
    request_id: str | None = None  # the vendor's id of the answer, where only its body says it (traces)


@dataclass
class EmbeddingResult:
    """A whole call: a vector per input, in input order, with sparse vectors and token-level
    multi-vectors when asked for: per input, its rows as float32 ``array('f')`` (4 bytes a value;
    ``row.tolist()`` where a list is needed, for example by qdrant-client)."""

    vectors: list[list[float]]
    usage: Usage
    sparse: list[SparseVector] | None = None
    multi_vectors: list[list[array[float]]] | None = None
