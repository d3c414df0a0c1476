"""One bound on the requests in flight, for threads and for tasks of any event loop together.

``threading.Semaphore`` blocks an event loop and ``asyncio.Semaphore`` belongs
to one loop, so a client used from sync code and from two ``asyncio.run``
calls at once would otherwise have three separate bounds. :class:`Gate` keeps
one count under a thread lock. A thread that finds no place waits on an
event; a task waits on a future of its own loop. A released place is handed
to the longest waiter directly (first come, first served), waking a task
through its loop's ``call_soon_threadsafe``. A waiter that gives up (a
cancelled task, Ctrl-C) either leaves the queue or, if a place was already
handed to it, passes that place on, so no place is ever lost.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

__all__ = ["Gate"]


class Gate:
    """At most ``size`` holders at once; ``with gate:`` in threads, ``async with gate:`` in tasks."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._lock = threading.Lock()
        self._waiters: deque[threading.Event | tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        return self.size - self._free

    # -- threads ---------------------------------------------------------------------------------

    def acquire(self) -> None:
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return
            handed = threading.Event()
            self._waiters.append(handed)
        try:
            handed.wait()
        except BaseException:  # Ctrl-C while waiting
            self._give_up(handed)
            raise

    def __enter__(self) -> Gate:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- tasks -----------------------------------------------------------------------------------

    async def aacquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return
            handed: asyncio.Future[None] = loop.create_future()
            entry = (loop, handed)
            self._waiters.append(entry)
        try:
            await handed
        except BaseException:  # cancelled while waiting
            self._give_up(entry)
            raise

    async def __aenter__(self) -> Gate:
        await self.aacquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    # -- both ------------------------------------------------------------------------------------

    def release(self) -> None:
        """Hand the place to the longest waiter still waiting, or free it."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                if isinstance(waiter, threading.Event):
                    waiter.set()
                    return
                loop, handed = waiter
                try:
                    loop.call_soon_threadsafe(self._wake, handed)
                    return
                except RuntimeError:  # its loop has closed: nobody is waiting there any more
                    continue
            self._free += 1

    def _wake(self, handed: asyncio.Future[None]) -> None:
        if handed.cancelled():
            self.release()
        else:
            handed.set_result(None)

    def _give_up(self, entry: Any) -> None:
        """A waiter stops waiting. Still queued: it leaves. Already handed a place: it passes the
        place on (a task whose wake-up has not run yet has a cancelled future, and ``_wake``,
        which runs on that task's own loop, passes it on instead)."""
        with self._lock:
            try:
                self._waiters.remove(entry)
                return
            except ValueError:
                pass
        if isinstance(entry, threading.Event):
            self.release()  # popped and set in one step under the lock: the place is ours
            return
        handed = entry[1]
        if handed.done() and not handed.cancelled():
            self.release()
