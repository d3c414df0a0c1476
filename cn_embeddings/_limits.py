"""A client-side request limiter shared by the threads and tasks of one client.

``reserve()`` is pure bookkeeping under a lock and returns how long the caller
must sleep before sending; the sync driver sleeps with ``time.sleep`` and the
async one with ``asyncio.sleep``, so one limiter serves both. Requests are
spaced evenly at ``1 / rate`` so a steady run never trips a vendor's per-second
quota. When the vendor throttles anyway, ``throttled()`` lowers the rate
(multiplicatively) and each success raises it back towards the configured
ceiling (additively), so a long run stops hitting the quota.
"""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["RateLimiter"]

_BACKOFF_FACTOR = 0.7
_RECOVERY_STEPS = 20  # successes needed to climb back from the floor to the ceiling
_FLOOR_FRACTION = 0.1


class RateLimiter:
    """Evenly spaced requests at ``requests_per_second`` (None: unlimited until throttled)."""

    def __init__(self, requests_per_second: float | None, clock=time.monotonic) -> None:
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.ceiling = requests_per_second
        self.rate = requests_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = 0.0
        self._recent: deque[float] = deque(maxlen=64)
        self._streak = 0

    def reserve(self) -> float:
        """Claim the next send slot; returns the seconds to wait before sending."""
        with self._lock:
            now = self._clock()
            self._recent.append(now)
            if self.rate is None:
                return 0.0
            slot = max(now, self._next_free)
            self._next_free = slot + 1.0 / self.rate
            return slot - now

    def throttled(self) -> None:
        """The vendor said 'too many requests': slow down."""
        with self._lock:
            current = self.rate if self.rate is not None else self._observed_rate()
            if current is None:
                return
            self._streak = 0
            floor = (self.ceiling or current) * _FLOOR_FRACTION
            self.rate = max(current * _BACKOFF_FACTOR, floor)

    def succeeded(self) -> None:
        """A request went through: creep back towards the configured rate."""
        with self._lock:
            if self.rate is None or self.rate == self.ceiling:
                return
            if self.ceiling is None:
                # No configured quota: after a run of successes, stop limiting again.
                self._streak += 1
                if self._streak >= _RECOVERY_STEPS:
                    self.rate, self._streak = None, 0
                return
            self.rate = min(self.ceiling, self.rate + self.ceiling / _RECOVERY_STEPS)

    def _observed_rate(self) -> float | None:
        """Requests per second over the recent sends (used when no rate is configured)."""
        if len(self._recent) < 2:
            return None
        span = self._recent[-1] - self._recent[0]
        return (len(self._recent) - 1) / span if span > 0 else None
