"""A fair line of callers waiting for a place in flight: first come, first served.

Only the caller at the head may take the next place, and only it is woken when one frees, so a
place is never raced for. A caller looks at least every ``WAKE_SLICE``; one that has not looked
for ``STALE_WAITER`` (its event loop was stopped, its thread is frozen) is passed over, so it
cannot hold up callers elsewhere. Every caller, in line or waiting for its send time, can be
woken at once when the pacing changes (a decrease re-claims send times).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Union

__all__ = ["WAKE_SLICE", "Line", "Waker", "wake"]

WAKE_SLICE = 0.1  # seconds between looks at a stop event while waiting
STALE_WAITER = 1.0  # seconds without a look after which a caller in line is passed over

# A thread's event, or a task's loop and event (set only from that loop)
Waker = Union[threading.Event, "tuple[asyncio.AbstractEventLoop, asyncio.Event]"]


class Line:
    """The callers of one controller; not locked itself (the controller holds its lock)."""

    def __init__(self) -> None:
        self.queue: deque[int] = deque()  # tickets waiting for a place, in arrival order
        self.wakers: dict[int, Waker] = {}  # every caller still inside acquire
        self.polled: dict[int, float] = {}
        self.tickets = 0

    def join(self, waker: Waker, now: float) -> int:
        self.tickets += 1
        self.queue.append(self.tickets)
        self.wakers[self.tickets] = waker
        self.polled[self.tickets] = now
        return self.tickets

    def served(self, ticket: int) -> None:
        """The caller took its place: out of the queue, still wakeable while it waits to send."""
        if ticket in self.polled:
            self.queue.remove(ticket)
            del self.polled[ticket]

    def leave(self, ticket: int) -> None:
        self.served(ticket)
        self.wakers.pop(ticket, None)

    def look(self, ticket: int, now: float) -> bool:
        """The caller looks for a place: whether it is at the head (among callers still looking)."""
        self.polled[ticket] = now
        return self.head(now) == ticket

    def head(self, now: float) -> int | None:
        for ticket in self.queue:
            if now - self.polled[ticket] <= STALE_WAITER:
                return ticket
        return None

    def head_waker(self, now: float) -> Waker | None:
        head = self.head(now)
        return None if head is None else self.wakers.get(head)


def wake(waker: Waker | None) -> None:
    """Wake one caller, a thread or a task on its own loop (outside the controller's lock)."""
    if isinstance(waker, threading.Event):
        waker.set()
    elif waker is not None:
        try:
            waker[0].call_soon_threadsafe(waker[1].set)
        except RuntimeError:  # its loop has closed: its lease will end
            pass
