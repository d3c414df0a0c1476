"""One call's batch answers laid out by input: vectors, sparse and multi-vectors in input order,
the usage billed, the check that every vector has one length, and the record of a failed call.

The runners hand back an :class:`~cn_embeddings._batching.Outcome` (a result per answered
batch, and the failure); this is where those results are merged, so that a check across
batches (a vendor that changed dimensions mid-call) sits where the batches meet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import _longtext
from ._batching import Failure, Outcome
from ._exceptions import CallRecord
from ._inputs import Item
from ._types import BatchResult, Usage
from .vendors._common import malformed

__all__ = ["Answers"]


@dataclass
class Answers:
    """The answers of one call, by sent item (a split input's pieces each count)."""

    vectors: list[Any]  # a vector per sent item; None where it was not answered
    sparse: list[Any] | None
    multi: list[Any] | None
    usage: Usage
    answered: set[int]
    failed: list[int]  # the items of the request that failed
    failure: Failure | None

    @classmethod
    def of(cls, n: int, outcome: Outcome[list[int], BatchResult], vendor: str) -> Answers:
        batches = outcome.batches
        results = [outcome.results.get(i) for i in range(len(batches))]
        usage = Usage()
        for result in results:
            if result is not None:
                usage.add(result.usage)
        failure = outcome.failure
        if failure is not None:
            usage.add(failure.billed)
        answers = cls(
            _spread(n, batches, results, "vectors") or [None] * n,
            _spread(n, batches, results, "sparse"),
            _spread(n, batches, results, "multi"),
            usage,
            {i for b, r in zip(batches, results, strict=True) if r is not None for i in b},
            list(batches[failure.index]) if failure is not None and failure.index is not None else [],
            failure,
        )
        if failure is None:
            answers.check_lengths(vendor)
        return answers

    @classmethod
    def whole(cls, result: BatchResult) -> Answers:
        """The answers of one request that answered every item."""
        every = set(range(len(result.vectors)))
        return cls(result.vectors, result.sparse, result.multi, result.usage, every, [], None)

    def check_lengths(self, vendor: str) -> None:
        """Every vector of one call has one length (a vendor that switched models or dimensions
        mid-call is an error, not a silently mixed result). The inputs whose vectors have another
        length than most fail; those of the common length are handed back."""
        lengths = Counter(len(v) for v in self.vectors)
        if len(lengths) <= 1:
            return
        common = lengths.most_common(1)[0][0]
        odd = [i for i, v in enumerate(self.vectors) if len(v) != common]
        said = dict(sorted(lengths.items()))
        self.failure = Failure(None, malformed(vendor, f"vector lengths differ within one call: {said}"))
        self.answered -= set(odd)
        self.failed = odd

    def record(self, items: list[Item], owners: list[int] | None) -> CallRecord:
        """What the failed call did, in inputs (``owners``: the input each sent item belongs to,
        None when nothing was split)."""
        record = CallRecord(
            sorted(self.answered),
            [i for i in range(len(self.vectors)) if i not in self.answered],
            self.failed,
            {i: self.vectors[i] for i in self.answered},
        )
        return _to_inputs(record, items, owners) if owners is not None else record


def _to_inputs(record: CallRecord, items: list[Item], owners: list[int]) -> CallRecord:
    """A record of sent items restated in inputs: an input is embedded when every piece of it is,
    and its partial vector is then the merged one."""
    missing = Counter(owners[k] for k in record.not_embedded)
    flat: list[list[float] | None] = [None] * len(owners)
    for k, vector in record.partial_vectors.items():
        flat[k] = vector
    merged = _longtext.merge(items, owners, flat)
    return CallRecord(
        [i for i in range(len(items)) if not missing[i]],
        sorted(missing),
        sorted({owners[k] for k in record.failed}),
        {i: v for i, v in enumerate(merged) if v is not None and not missing[i]},
    )


def _spread(n: int, batches: Sequence[list[int]], results: list[Any], name: str) -> list[Any] | None:
    """One field of the batch results laid out by input index (None when no batch has it)."""
    if not any(r is not None and getattr(r, name) is not None for r in results):
        return None
    out: list[Any] = [None] * n
    for batch, result in zip(batches, results, strict=True):
        values = getattr(result, name) if result is not None else None
        if values is not None:
            for position, index in enumerate(batch):
                out[index] = values[position]
    return out
