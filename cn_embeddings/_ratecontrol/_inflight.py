"""How many requests may be in flight: Little's law, a slow-start window, and AIMD.

- **Little's law**: holding a rate needs ``rate x latency`` requests in flight, so the bound is
  the rate times the RTT estimate, plus one.
- **Slow start** (RFC 5681): before the quota is known there is no rate to apply Little's law
  to, so the bound is a window that starts at ``INITIAL_WINDOW`` and grows by one per accepted
  answer, doubling per round trip. A vendor that reports refusals only after the whole latency
  is then overshot by one window, not by whatever a timed ramp sent meanwhile. Once the
  delivery rate stops growing (BBR's full-pipe check: less than ``FULL_GROWTH`` over
  ``FULL_ROUNDS`` round trips), more in flight only queues at the vendor, or at the caller's own
  CPU: the window stops growing and the bound is BBR's, twice the delivery rate times the least
  latency of the last 10 s (the controller passes them), never under ``INITIAL_WINDOW``. Not the
  smoothed latency: answers waiting for a busy event loop inflate it, which let more requests in
  flight, which kept the loop busier. Each request in flight is a connection, and httpx's pool
  looks at every connection for every request.
- **AIMD** (Netflix concurrency-limits' ``AIMDLimit``): a "too many in flight" refusal multiplies
  the ceiling by ``BACKOFF``; an answer while at least half of it is used adds one.
"""

from __future__ import annotations

import math

__all__ = ["InFlightLimit"]

INITIAL_WINDOW = 16  # requests in flight before any answer: what a plain client keeps
BACKOFF = 0.9  # AIMDLimit's backoff ratio
FULL_GROWTH = 1.25  # BBR: a delivery rate growing less than this per FULL_ROUNDS rounds is the pipe's
FULL_ROUNDS = 3


class InFlightLimit:
    """The bound on requests in flight for one quota, up to ``ceiling`` (``max_concurrency``)."""

    def __init__(self, ceiling: int, slow_start: bool) -> None:
        self.ceiling = ceiling
        self.aimd = float(ceiling)
        self.window: float | None = float(INITIAL_WINDOW) if slow_start else None
        self.full = False  # the delivery rate stopped growing during slow start
        self._full_rate = 0.0
        self._stalled = 0

    def limit(self, rate: float | None, latency: float) -> int:
        bound = max(1, min(self.ceiling, math.floor(self.aimd)))
        if self.window is not None:
            bound = max(1, min(bound, math.floor(self.window)))
            if not self.full:
                return bound
        if rate is None:
            return bound
        little = math.ceil(rate * latency) + 1  # Little's law, never under the first window once full
        return max(1, min(bound, max(INITIAL_WINDOW, little) if self.window is not None else little))

    def accepted(self, busy: bool) -> None:
        if busy:
            self.aimd = min(self.aimd + 1, self.ceiling)
            if self.window is not None and not self.full:
                self.window += 1

    def round_trip(self, delivered: float) -> None:
        """Once a round trip of slow start, the delivery rate (BBR's full-pipe check)."""
        if self.window is None or self.full:
            return
        if delivered >= self._full_rate * FULL_GROWTH:
            self._full_rate, self._stalled = delivered, 0
        else:
            self._stalled += 1
            self.full = self._stalled >= FULL_ROUNDS

    def refused_in_flight(self, in_flight: int) -> None:
        self.aimd = max(1.0, min(self.aimd, in_flight) * BACKOFF)

    def end_slow_start(self) -> None:
        self.window = None
        self.full = False
