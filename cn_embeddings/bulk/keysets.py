"""What the bulk job remembers per row, in a few bytes: the ids an output holds, and which ids the
input repeats.

A resume must know, for every input, whether its id is already in the output and with which
content, and whether an earlier input had the same id. A dict of Python ints costs over 100 bytes
a row (about 300 MiB at a million rows). Here the output's ids are signed 64-bit digests, each with
a 32-bit digest of its content, in sorted arrays found by bisection (12 bytes a row, for the whole
run); the input's ids are 8 bytes a record while the first pass reads, in sorted runs that are then
merged to find repeats (only those are kept). Runs are sorted ``RUN`` values at a time and merged
with ``heapq.merge``, so at most one run of Python ints is held at once. A 32-bit content digest
misses a changed content one time in four billion; repeats are found on 62 bits of the id digest.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["InputIds", "OutputIds", "prefix"]

RUN = 1 << 16  # values sorted at a time
_MASK32 = (1 << 32) - 1
_T = TypeVar("_T")


def _sorted_runs(values: Iterable[_T]) -> Iterator[list[_T]]:
    run: list[_T] = []
    for value in values:
        run.append(value)
        if len(run) == RUN:
            yield sorted(run)  # type: ignore[type-var]
            run = []
    if run:
        yield sorted(run)  # type: ignore[type-var]


class OutputIds:
    """The ids an output holds (signed 64-bit digests), each with a 32-bit digest of its content."""

    def __init__(self, pairs: Iterable[tuple[int, int]]) -> None:
        """``pairs``: (id digest, content digest) per row written, in any order."""
        runs = []
        for run in _sorted_runs((key, digest & _MASK32) for key, digest in pairs):
            runs.append((array("q", (k for k, _ in run)), array("I", (d for _, d in run))))
        self._keys, self._digests = array("q"), array("I")
        for key, digest in heapq.merge(*(zip(keys, digests, strict=True) for keys, digests in runs)):
            self._keys.append(key)
            self._digests.append(digest)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: int) -> bool:
        at = bisect_left(self._keys, key)
        return at < len(self._keys) and self._keys[at] == key

    def holds_other_content(self, key: int, digest: int) -> bool:
        """Whether ``key`` is in the output with a content other than ``digest``."""
        at = bisect_left(self._keys, key)
        return at < len(self._keys) and self._keys[at] == key and self._digests[at] != digest & _MASK32

    @property
    def nbytes(self) -> int:
        return self._keys.itemsize * len(self._keys) + self._digests.itemsize * len(self._digests)


class InputIds:
    """The input's ids as the first pass reads them, for finding repeats: 8 bytes a record. Each id
    digest keeps its top 62 bits; the two low bits say whether the id was given (not derived from
    the content) and whether the output already holds it."""

    def __init__(self) -> None:
        self._runs: list[array[int]] = []
        self._run: list[int] = []

    def add(self, key: int, given: bool, written: bool) -> None:
        self._run.append((key >> 2 << 2) | (given << 0) | (written << 1))
        if len(self._run) == RUN:
            self._runs.append(array("q", sorted(self._run)))
            self._run = []

    def groups(self) -> Iterator[tuple[int, int, bool, bool]]:
        """(id prefix, occurrences, whether any was given, whether written) per distinct id, by
        merging the sorted runs."""
        if self._run:
            self._runs.append(array("q", sorted(self._run)))
            self._run = []
        runs, self._runs = self._runs, []
        current, count, given, written = None, 0, False, False
        for value in heapq.merge(*runs):
            prefix = value >> 2
            if prefix != current:
                if current is not None:
                    yield current, count, given, written
                current, count, given, written = prefix, 0, False, False
            count += 1
            given |= bool(value & 1)
            written |= bool(value & 2)
        if current is not None:
            yield current, count, given, written


def prefix(key: int) -> int:
    """The part of an id digest that :class:`InputIds` compares."""
    return key >> 2
