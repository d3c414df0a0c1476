"""Backpressure between the vendor's answers and the output: a request is sent only with a credit,
and a credit comes back only once its answer is written.

Without it, a fast vendor and a slow output (a local Qdrant, a Parquet part being compressed)
leave every worker holding a parsed answer while it waits for the writer, and memory grows with
the concurrency, not with what the output can take. This is credit-based flow control (as in
Kung and Morris, "Credit-based flow control for ATM networks", 1995; the receive window of TCP),
with the window sized as BBR sizes its congestion window: twice the bandwidth-delay product,
here the rate at which batches are written times the shortest time a request took in the last
ten seconds (BBR's RTprop: the shortest, because a longer time measures queueing, and a window
sized by it would grow the queue that made it long). By Little's law that keeps the writer fed
while at most about two round trips of answers wait for it. It starts at ``INITIAL_CREDITS``
(the rate controller's slow-start window) and grows as writing proves faster.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from .._flow import Cancel, Stopped

__all__ = ["Credits"]

INITIAL_CREDITS = 16  # batches out before anything is written (the rate controller's first window)
GAIN = 2.0  # credits per batch the pipeline needs (BBR's cwnd_gain over the bandwidth-delay product)
RATE_WINDOW = 1.0  # seconds of writes the write rate is measured over
RTPROP_WINDOW = 10.0  # seconds the shortest request time is kept (BBR's RTprop filter)
SPARE = 2  # workers beyond the credits, so that a credit given back is taken at once
WAIT_SLICE = 0.1  # seconds between looks at the job's stop while waiting for a credit


class Credits:
    """How many batches may be between "sent" and "written" at once (see the module docstring)."""

    def __init__(self, most: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.most, self.clock = max(most, 1), clock
        self.out = 0
        self.times: deque[tuple[float, float]] = deque()  # (when, request time), times increasing: a running minimum
        self.written: deque[float] = deque()  # times of recent writes
        self.started = clock()
        self._changed = threading.Condition()

    def limit(self) -> int:
        """(Under the lock.) The window now: GAIN x write rate x shortest request time, at least
        INITIAL_CREDITS, at most ``most``."""
        now = self.clock()
        while self.written and self.written[0] < now - RATE_WINDOW:
            self.written.popleft()
        while self.times and self.times[0][0] < now - RTPROP_WINDOW:
            self.times.popleft()
        if not self.times or not self.written:
            return min(INITIAL_CREDITS, self.most)
        elapsed = min(RATE_WINDOW, max(now - self.started, 1e-3))
        needed = math.ceil(GAIN * len(self.written) / elapsed * self.times[0][1])
        return min(max(needed, INITIAL_CREDITS), self.most)

    def workers(self) -> int:
        """Workers of use now: one per credit, and ``SPARE`` ready for the next one to come back."""
        with self._changed:
            return self.limit() + SPARE

    def take(self, cancel: Cancel) -> float:
        """Wait for a credit (or the job's stop, which raises Stopped); returns when it was taken."""
        with self._changed:
            while self.out >= self.limit():
                if cancel.is_set():
                    raise Stopped("the job stopped before this batch was sent")
                self._changed.wait(WAIT_SLICE)
            self.out += 1
        return self.clock()

    def give(self, taken: float, answered: float | None) -> None:
        """A batch is written (``answered``: when its answer came; None: it failed): its credit
        returns, and the request time and the write rate learn from it."""
        with self._changed:
            self.out -= 1
            if answered is not None:
                sample = max(answered - taken, 0.0)
                while self.times and self.times[-1][1] >= sample:  # never the minimum again
                    self.times.pop()
                self.times.append((answered, sample))
                self.written.append(self.clock())
            self._changed.notify_all()
