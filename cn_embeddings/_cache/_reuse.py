"""One call's inputs against the cache: what was paid for already, what to send, and who sends it.

A call with a cache works in sent positions (a split text's pieces each count, see
:mod:`cn_embeddings._longtext`). Their keys are looked up at once; each missing key is sent
once, by its first position, however often the call repeats it; and a key that another call of
this process is sending right now (sync or async, any thread) is waited for rather than sent
again (single flight: a process-wide table of futures, which an owner always resolves, with
its entry or with None when its request failed; a waiter then sends the key itself). What comes
back is laid out as :class:`~cn_embeddings._results.Answers` over every sent position, so the
record of a failed call names the inputs that were not embedded as it does without a cache.

The round loop is the caller's (``_client``), sync or async: :meth:`Reuse.look`, then for each of
:meth:`Reuse.rounds` send, :meth:`Reuse.answered`, :meth:`Reuse.keep`, wait; leaving the ``with``
always releases this call's flights. The cache's I/O (``look``, ``keep``) is separate, so that an
async call runs it in a thread rather than on its event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from .._batching import Failure
from .._inputs import Item
from .._results import Answers
from .._types import Usage
from . import Guarded
from ._entry import Entry, key_of

__all__ = ["Reuse"]

_FLIGHTS: dict[bytes, Future[Entry | None]] = {}
_FLIGHTS_LOCK = threading.Lock()


class Reuse:
    def __init__(
        self,
        cache: Guarded,
        scope: bytes,
        sent: Sequence[Item],
        estimate: Callable[[Sequence[Item]], float],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.cache, self.sent, self.estimate, self.progress = cache, sent, estimate, progress
        n = len(sent)
        self.keys = [key_of(scope, item) for item in sent]
        self.where: dict[bytes, list[int]] = {}
        for position, key in enumerate(self.keys):
            self.where.setdefault(key, []).append(position)
        self.vectors: list[Any] = [None] * n
        self.sparse: list[Any] = [None] * n
        self.multi: list[Any] = [None] * n
        self.done: set[int] = set()
        self.usage = Usage()
        self.failed: list[int] = []
        self.failure: Failure | None = None
        self.owned: dict[bytes, Future[Entry | None]] = {}
        self.waiting: dict[bytes, Future[Entry | None]] = {}
        self._todo: list[int] = []

    def look(self) -> None:
        """Look every key up (the cache's I/O: an async call runs it off its event loop), and
        claim the flights of the keys not found."""
        found = self.cache.get_many(list(self.where))
        for key, entry in found.items():
            self._fill(key, entry)
        self.usage.cache_hits = len(self.done)
        self.usage.cache_misses = len(self.sent) - len(self.done)
        self._claim([key for key in self.where if key not in found])

    def _fill(self, key: bytes, entry: Entry, counted: int = 0) -> None:
        """Every position of ``key`` gets ``entry``; progress counts them (less ``counted``: the
        position the runner already counted when it sent the key)."""
        positions = self.where[key]
        vector = entry.vector if isinstance(entry.vector, list) else entry.vector.tolist()
        for position in positions:
            self.vectors[position] = vector
            self.sparse[position] = entry.sparse
            self.multi[position] = entry.multi
        self.done.update(positions)
        if self.progress and len(positions) > counted:
            self.progress(len(positions) - counted)

    def _claim(self, keys: list[bytes]) -> None:
        with _FLIGHTS_LOCK:
            for key in keys:
                flight = _FLIGHTS.get(key)
                if flight is None:
                    _FLIGHTS[key] = self.owned[key] = Future()
                else:
                    self.waiting[key] = flight

    def __enter__(self) -> Reuse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def rounds(self) -> Iterator[tuple[list[Item], list[Future[Entry | None]]]]:
        """The rounds of the call, as (items to send, flights to wait for after): the caller sends
        the items, hands their answers to :meth:`answered`, then waits for the flights, before it
        asks for the next round. Sending comes first, so two calls each waiting for a key the
        other holds cannot happen: a flight ends when its owner's round is answered."""
        while True:
            self._todo = [self.where[key][0] for key, flight in self.owned.items() if not flight.done()]
            waits = list(self.waiting.values())
            if not self._todo and not waits:
                return
            yield [self.sent[position] for position in self._todo], waits
            if self.failure is not None:
                return
            self.adopt()

    def answered(self, answers: Answers) -> list[tuple[bytes, Entry]]:
        """Take the answers of the items the last round yielded: fill every position of each
        answered key and end this call's flights of the round; returns the entries for
        :meth:`keep` (the cache's I/O, which an async call runs off its event loop)."""
        todo = self._todo
        tokens = answers.usage.prompt_tokens or answers.usage.total_tokens
        got = sorted(answers.answered)
        estimates = [self.estimate([self.sent[todo[i]]]) for i in got]
        total = sum(estimates) or 1.0
        entries: list[tuple[bytes, Entry]] = []
        for i, estimate in zip(got, estimates, strict=True):
            key = self.keys[todo[i]]
            entry = Entry(
                answers.vectors[i],
                answers.sparse[i] if answers.sparse is not None else None,
                answers.multi[i] if answers.multi is not None else None,
                round(tokens * estimate / total),
            )
            entries.append((key, entry))
            self._fill(key, entry, counted=1)
        self._resolve([self.keys[position] for position in todo], dict(entries))
        self.usage.add(answers.usage)
        if answers.failure is not None and self.failure is None:
            self.failure = answers.failure
            self.failed = sorted(p for i in answers.failed for p in self.where[self.keys[todo[i]]])
        self._todo = []
        return entries

    def keep(self, entries: list[tuple[bytes, Entry]]) -> None:
        """Store a round's entries (a round of mixed lengths is an error, and is not kept)."""
        if len({len(entry.vector) for _, entry in entries}) <= 1:
            self.cache.put_many(entries)

    def adopt(self) -> None:
        """After the waits: fill what the other calls got; claim again what they failed to get."""
        waiting, self.waiting = self.waiting, {}
        again = []
        for key, flight in waiting.items():
            entry = flight.result()
            if entry is None:
                again.append(key)
            else:
                self._fill(key, entry)
        self._claim(again)

    def _resolve(self, keys: Sequence[bytes], entries: dict[bytes, Entry]) -> None:
        """End the flights of ``keys``: with their entry, or None (a waiter then sends it)."""
        with _FLIGHTS_LOCK:
            for key in keys:
                flight = self.owned.get(key)
                if flight is None or flight.done():
                    continue
                if _FLIGHTS.get(key) is flight:
                    del _FLIGHTS[key]
                flight.set_result(entries.get(key))

    def release(self) -> None:
        """End every flight this call still owns (it failed, or was stopped), so that no other
        call waits for it in vain."""
        self._resolve(list(self.owned), {})

    def answers(self, vendor: str) -> Answers:
        """Everything, over every sent position (``Answers.record`` names what is missing)."""
        n = len(self.sent)
        answers = Answers(
            self.vectors,
            self.sparse if any(s is not None for s in self.sparse) else None,
            self.multi if any(m is not None for m in self.multi) else None,
            self.usage,
            set(self.done),
            self.failed,
            self.failure,
        )
        if self.failure is None and len(self.done) < n:
            raise AssertionError("a call ended with inputs neither answered nor failed")  # pragma: no cover
        if self.failure is None:
            answers.check_lengths(vendor)
        return answers
