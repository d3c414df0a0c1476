"""What the bulk job remembers per row, in a few bytes: the ids an output holds, and which ids the
input repeats.

A resume must know, for every input, whether its id is already in the output and with which
content, and whether an earlier input had the same id. A dict of Python ints costs over 100 bytes
a row (about 300 MiB at a million rows). Here the output's ids are signed 64-bit digests, each with
a 32-bit digest of its content (and, for an update, one of its other columns), in sorted arrays
found by bisection: 12 bytes a row for a resume, 16 for an update, for the whole run. The input's
ids are merged to find repeats, and only those are kept. Both are built by an external merge
sort: runs of ``RUN`` values are sorted in memory, kept in a temporary file and merged back with
``heapq.merge``, so memory holds the finished arrays, one run, and a chunk of each run. A 32-bit
content digest misses a changed content one time in four billion; repeats are found on 62 bits
of the id digest.
"""

from __future__ import annotations

import heapq
import tempfile
import weakref
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

__all__ = ["InputIds", "OutputIds", "prefix"]

RUN = 1 << 15  # values sorted at a time
CHUNK = 1 << 8  # values read back from each run at a time while merging (CHUNK / RUN of the rows: 1/128)
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


class _Spill:
    """Sorted runs of typed columns kept in a temporary file, not in memory, and merged back in
    order (an external merge sort): memory holds one run while it is sorted and a chunk of each
    run while they are merged, however many rows there are."""

    def __init__(self, typecodes: str) -> None:
        self._typecodes = typecodes
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed when merged, or with this object
        weakref.finalize(self, self._file.close)  # a first pass that raised never merges
        self._runs: list[tuple[int, int]] = []  # (offset, rows)

    def add(self, run: Sequence[tuple[int, ...]]) -> None:
        self._runs.append((self._file.tell(), len(run)))
        for column, code in enumerate(self._typecodes):
            array(code, (row[column] for row in run)).tofile(self._file)

    def _read(self, offset: int, rows: int) -> Iterator[tuple[int, ...]]:
        widths = [array(code).itemsize for code in self._typecodes]
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            columns = []
            at = offset
            for code, width in zip(self._typecodes, widths, strict=True):
                self._file.seek(at + start * width)
                column = array(code)
                column.fromfile(self._file, n)
                columns.append(column)
                at += rows * width
            yield from zip(*columns, strict=True)

    def __len__(self) -> int:
        return sum(rows for _, rows in self._runs)

    def merged(self) -> Iterator[tuple[int, ...]]:
        try:
            yield from heapq.merge(*(self._read(offset, rows) for offset, rows in self._runs))
        finally:
            self._file.close()


class OutputIds:
    """The ids an output holds (signed 64-bit digests), each with a 32-bit digest of its content
    and one of its other columns (0: not recorded, an output of an earlier version)."""

    def __init__(self, rows: Iterable[tuple[int, int, int]], columns: bool = True) -> None:
        """``rows``: (id digest, content digest, columns digest) per row written, in any order;
        ``columns`` False: the columns digests are not kept (a plain resume: 12 bytes a row)."""
        spill = _Spill("qII")
        for run in _sorted_runs((key, digest & _MASK32, meta & _MASK32) for key, digest, meta in rows):
            spill.add(run)
        n = len(spill)  # the arrays are made at their size once: growing them would copy them
        self._keys, self._digests = array("q", [0]) * n, array("I", [0]) * n
        self._metas = array("I", [0]) * (n if columns else 0)
        for at, (key, digest, meta) in enumerate(spill.merged()):
            self._keys[at] = key
            self._digests[at] = digest
            if columns:
                self._metas[at] = meta
        self._seen: bytearray | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def _at(self, key: int) -> int | None:
        at = bisect_left(self._keys, key)
        return at if at < len(self._keys) and self._keys[at] == key else None

    def __contains__(self, key: int) -> bool:
        return self._at(key) is not None

    def holds_other_content(self, key: int, digest: int) -> bool:
        """Whether ``key`` is in the output with a content other than ``digest``."""
        at = self._at(key)
        return at is not None and self._digests[at] != digest & _MASK32

    def compare(self, key: int, digest: int, meta: int) -> str:
        """What an update does with an input: ``new`` (not in the output), ``content`` (its
        content changed: embed again), ``columns`` (only its other columns changed, or were not
        recorded: rewrite them without a request) or ``same``; the output's row is marked seen."""
        at = self._at(key)
        if at is None:
            return "new"
        if self._seen is None:
            self._seen = bytearray(len(self._keys))
        self._seen[at] = 1
        if self._digests[at] != digest & _MASK32:
            return "content"
        return "same" if self._metas[at] == meta & _MASK32 and self._metas[at] else "columns"

    def unseen(self) -> set[int]:
        """The ids of the output that no input compared against (what ``delete_missing`` drops)."""
        seen = self._seen or bytearray(len(self._keys))
        return {key for key, mark in zip(self._keys, seen, strict=True) if not mark}

    @property
    def nbytes(self) -> int:
        return sum(a.itemsize * len(a) for a in (self._keys, self._digests, self._metas))


class InputIds:
    """The input's ids as the first pass reads them, for finding repeats: 8 bytes a record. Each id
    digest keeps its top 62 bits; the two low bits say whether the id was given (not derived from
    the content) and whether the output already holds it."""

    def __init__(self) -> None:
        self._spill = _Spill("q")
        self._run: list[int] = []

    def add(self, key: int, given: bool, written: bool) -> None:
        self._run.append((key >> 2 << 2) | (given << 0) | (written << 1))
        if len(self._run) == RUN:
            self._spill.add([(value,) for value in sorted(self._run)])
            self._run = []

    def groups(self) -> Iterator[tuple[int, int, bool, bool]]:
        """(id prefix, occurrences, whether any was given, whether written) per distinct id, by
        merging the sorted runs."""
        if self._run:
            self._spill.add([(value,) for value in sorted(self._run)])
            self._run = []
        current, count, given, written = None, 0, False, False
        for (value,) in self._spill.merged():
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
