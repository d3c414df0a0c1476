"""How many requests may be in flight: Little's law, a slow-start window, and AIMD.

- **Little's law**: holding a rate needs ``rate x latency`` requests in flight, so the bound is
  the rate times the RTT estimate, plus one.
- **Slow start** (RFC 5681): before the quota is known there is no rate to apply Little's law
  to, so the bound is a window that starts at ``INITIAL_WINDOW`` and grows by one per accepted
  answer, doubling per round trip. A vendor that reports refusals only after the whole latency
  is then overshot by one window, not by whatever a timed ramp sent meanwhile.
- **AIMD** (Netflix concurrency-limits' ``AIMDLimit``): a "too many in flight" refusal multiplies
  the ceiling by ``BACKOFF``; an answer while at least half of it is used adds one.
"""

from __future__ import annotations

import math

__all__ = ["InFlightLimit"]

INITIAL_WINDOW = 16  # requests in flight before any answer: what a plain client keeps
BACKOFF = 0.9  # AIMDLimit's backoff ratio


class InFlightLimit:
    """The bound on requests in flight for one quota, up to ``ceiling`` (``max_concurrency``)."""

    def __init__(self, ceiling: int, slow_start: bool) -> None:
        self.ceiling = ceiling
        self.aimd = float(ceiling)
        self.window: float | None = float(INITIAL_WINDOW) if slow_start else None

    def limit(self, rate: float | None, latency: float) -> int:
        bound = max(1, min(self.ceiling, math.floor(self.aimd)))
        if self.window is not None:
            return max(1, min(bound, math.floor(self.window)))
        if rate is None:
            return bound
        return max(1, min(bound, math.ceil(rate * latency) + 1))

    def accepted(self, busy: bool) -> None:
        if busy:
            self.aimd = min(self.aimd + 1, self.ceiling)
            if self.window is not None:
                self.window += 1

    def refused_in_flight(self, in_flight: int) -> None:
        self.aimd = max(1.0, min(self.aimd, in_flight) * BACKOFF)

    def end_slow_start(self) -> None:
        self.window = None
