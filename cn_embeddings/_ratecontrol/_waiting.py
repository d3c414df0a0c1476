"""The two waiting loops over a controller's core: a thread's and a task's, one generator shared.

Both take a place in line, then a slot, then wait for its send time (or, with a shared store, ask
the store for it), in slices that look at the call's stop event and deadline. Whatever is thrown
in or raised, a slot taken is settled as unused and the caller leaves the line.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from .._exceptions import APITimeoutError, Stopped
from ._line import WAKE_SLICE, Line, Waker, wake
from ._types import Labels, Outcome, RateStore

if TYPE_CHECKING:
    from ._slot import Slot

__all__ = ["Waiting"]


class Waiting:
    """``acquire`` and ``aacquire`` for :class:`~._controller.RateController` (see the module docstring)."""

    clock: Callable[[], float]
    labels: Labels
    line: Line
    store: RateStore | None
    _lock: threading.Lock

    def try_take(self, cost: float, now: float, ticket: int | None = None, lease: float | None = None) -> Slot | None:
        raise NotImplementedError

    def due(self, slot: Slot, now: float) -> float:
        raise NotImplementedError

    def intervals(self, cost: float) -> tuple[float, float]:
        raise NotImplementedError

    def placed_remotely(self, slot: Slot, wait: float, now: float) -> None:
        raise NotImplementedError

    def settle(
        self, slot: Slot, outcome: Outcome, now: float, *, tokens: int = 0, retry_after: float | None = None
    ) -> None:
        raise NotImplementedError

    def acquire(
        self,
        cost: float = 0.0,
        stop: threading.Event | None = None,
        deadline: float | None = None,
        lease: float | None = None,
    ) -> Slot:
        """Wait in this thread (at most ``deadline`` seconds) for a place in flight and for the send
        time the pacing gives. ``lease``: the attempt's own timeout; a slot not settled within
        twice that (LEASE_WITHOUT_DEADLINE without one) is reclaimed."""
        woken = threading.Event()
        steps = self._acquiring(woken, cost, stop, deadline, lease)
        try:
            step = next(steps)
            while True:
                try:
                    if isinstance(step, tuple):
                        answer = self.store.reserve(*step) if self.store is not None else None
                    else:
                        woken.wait(step)
                        woken.clear()
                        answer = None
                except BaseException as error:  # an interrupt while waiting: the slot is settled
                    steps.throw(error)
                    raise
                step = steps.send(answer)
        except StopIteration as done:
            slot: Slot = done.value
            return slot

    async def aacquire(
        self,
        cost: float = 0.0,
        stop: threading.Event | None = None,
        deadline: float | None = None,
        lease: float | None = None,
    ) -> Slot:
        """``acquire`` for a task: waits without blocking its event loop."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()  # set from any thread through the loop (see _line.wake)
        steps = self._acquiring((loop, woken), cost, stop, deadline, lease)
        try:
            step = next(steps)
            while True:
                try:
                    if isinstance(step, tuple):
                        answer = await self.store.areserve(*step) if self.store is not None else None
                    else:
                        timer = loop.call_later(step, woken.set)
                        try:
                            await woken.wait()
                        finally:
                            timer.cancel()
                            woken.clear()
                        answer = None
                except BaseException as error:  # cancelled while waiting: the slot is settled
                    steps.throw(error)
                    raise
                step = steps.send(answer)
        except StopIteration as done:
            slot: Slot = done.value
            return slot

    def _acquiring(
        self,
        waker: Waker,
        cost: float,
        stop: threading.Event | None,
        deadline: float | None,
        lease: float | None,
    ) -> Generator[float | tuple[float, float], float | None, Slot]:
        """The one waiting loop both drivers run, in line with ``waker``: yields seconds to wait
        (until woken) or, with a shared store, the intervals to reserve there (sent back: the store's
        wait); returns the slot. Whatever is thrown in or raised, a slot taken is settled as unused,
        and the caller leaves the line."""
        end = None if deadline is None else self.clock() + deadline
        ticket = self._join(waker)
        slot: Slot | None = None
        try:
            while slot is None:
                slot = self.try_take(cost, self.clock(), ticket, lease or deadline)
                if slot is None:
                    yield self._slice(end, stop, WAKE_SLICE)
            self._wake_head()
            intervals = self.intervals(slot.cost)
            if self.store is not None and any(intervals):
                wait = yield intervals
                if wait is not None:
                    self.placed_remotely(slot, wait, self.clock())
            while (wait := self.due(slot, self.clock())) > 0:
                yield self._slice(end, stop, wait)
            self._slice(end, stop, 0.0)  # a call stopped meanwhile sends nothing more
            return slot
        except BaseException:
            if slot is not None:
                self.settle(slot, Outcome.UNUSED, self.clock())
            raise
        finally:
            self._leave(ticket)

    def _join(self, waker: Waker) -> int:
        with self._lock:
            return self.line.join(waker, self.clock())

    def _leave(self, ticket: int) -> None:
        with self._lock:
            self.line.leave(ticket)
        self._wake_head()

    def _wake_head(self) -> None:
        with self._lock:
            waker = self.line.head_waker(self.clock())
        wake(waker)

    def _slice(self, end: float | None, stop: threading.Event | None, longest: float) -> float:
        """The next wait: at most ``longest`` and WAKE_SLICE, ending at the deadline; raises once
        stopped or late."""
        if stop is not None and stop.is_set():
            raise Stopped("the call was stopped while waiting to send")
        longest = min(longest, WAKE_SLICE)
        if end is not None:
            left = end - self.clock()
            if left <= 0:
                raise APITimeoutError(
                    self.labels.vendor,
                    "no turn to send within the timeout (the quota or the requests in flight held it back)",
                    retryable=False,
                )
            longest = min(longest, left)
        return max(longest, 0.0)
