"""How many requests may be in flight: one bound, from Little's law, a slow-start window and AIMD.

- **Slow start** (RFC 5681): before the quota is known there is no rate to apply Little's law to,
  so the bound is a window that starts at ``INITIAL_WINDOW`` (what a plain client keeps) and
  grows by one per accepted answer while at least half of it is used, doubling per round trip. A
  vendor that reports refusals only after the whole latency is then overshot by one window.
- **Little's law**: once a rate is paced, holding it needs ``rate x latency`` requests in flight,
  so the bound is the rate times the RTT estimate, plus one.
- **AIMD** (Netflix concurrency-limits' ``AIMDLimit``): a "too many in flight" refusal of a
  request sent after the last one sets the ceiling to ``BETA`` (0.7, the rate's decrease;
  AIMDLimit's 0.9 takes twenty round trips to come down from the start's 16 to a cap of 2)
  times the requests in flight then (what the vendor's cap refused); an answer while at least
  half of it is used adds one over the ceiling (one per round trip, as TCP's congestion
  avoidance), once ``HOLD`` seconds have passed since that refusal (a vendor's cap is
  configuration: every probe above it costs one).
"""

from __future__ import annotations

import math

from ._learner import BETA, HOLD

__all__ = ["InFlightLimit"]

INITIAL_WINDOW = 16  # requests in flight before any answer: what a plain client keeps


class InFlightLimit:
    """The bound on requests in flight for one quota, up to ``ceiling`` (``max_concurrency``)."""

    def __init__(self, ceiling: int, slow_start: bool) -> None:
        self.ceiling = ceiling
        self.aimd = float(ceiling)
        self.window: float | None = float(INITIAL_WINDOW) if slow_start else None
        self.cut_at = -math.inf

    def limit(self, rate: float | None, latency: float) -> int:
        bound = min(self.ceiling, math.floor(self.aimd))
        if self.window is not None:
            bound = min(bound, math.floor(self.window))
        elif rate is not None:
            bound = min(bound, math.ceil(rate * latency) + 1)
        return max(1, bound)

    def accepted(self, busy: bool, now: float) -> None:
        if busy and now >= self.cut_at + HOLD:
            self.aimd = min(self.aimd + 1 / self.aimd, self.ceiling)
            if self.window is not None:
                self.window = min(self.window + 1, self.ceiling)

    def refused_in_flight(self, in_flight: int, sent_at: float, now: float) -> None:
        if sent_at >= self.cut_at:  # once per round trip: those sent before went out under the old bound
            self.aimd = max(1.0, min(self.aimd, in_flight) * BETA)
            self.cut_at = now
        self.window = None

    def end_slow_start(self) -> None:
        self.window = None
