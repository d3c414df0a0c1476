"""A client-side request limiter shared by the threads and tasks of one client.

``reserve()`` is pure bookkeeping under a lock and returns how long the caller
must sleep before sending; the sync driver sleeps with ``time.sleep`` and the
async one with ``asyncio.sleep``, so one limiter serves both. Requests are
spaced evenly at ``1 / rate`` so a steady run never trips a vendor's
per-second quota.

It also adapts, to the vendor's quota and not to its overload. Over each
window of 20 answers it looks at the share refused for quota (overload
answers, such as Ark's ``ServerOverloaded`` or Qianfan's cluster limits, are
retried but never slow it down). Above 50% in one window, or above 30% for
two windows in a row (one alone is often chance), the vendor is refusing the
rate: the limiter measures the rate the vendor admitted in that window and
drops to 90% of it, never below a quarter of the configured rate, so a call
keeps moving. Below that admitted rate it climbs back by 10% per window as
long as climbing does not raise the refused share by more than 10 points, so
refusals that are not about our rate (random 429s) do not hold it down. It
stays at 90% of the admitted rate until 10 clean windows (under 5% refused)
show the quota may have grown, then probes above it; a refused probe doubles
that wait (up to 40 windows), so a run that exceeds a quota settles just
under it.

One quota, one limiter: :func:`shared_limiter` hands every client of the same
vendor, host, account (a hash of the credential, never the credential) and
model in this process the same limiter, so a LangChain object, a LlamaIndex
object and any number of threads together keep the vendor's quota.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque

__all__ = ["RateLimiter", "shared_limiter"]

WINDOW = 20
SLOW_DOWN_ABOVE = 0.30
WINDOWS_OVER = 2  # windows in a row above it: one alone happens by chance under random refusals
SLOW_DOWN_AT_ONCE = 0.5  # a share this high is no chance: slow down after one window
SPEED_UP_BELOW = 0.05  # a clean window
NOT_WORSE = 0.10  # climb while the refused share is no more than this above the last window's
UNDER_ADMITTED = 0.9
INCREASE = 1.1
PROBE_AFTER = 10  # windows at the measured quota before probing above it; doubles after a failed probe
MAX_PROBE_AFTER = 40
FLOOR_FRACTION = 0.25  # of the configured rate
FLOOR_UNCONFIGURED = 0.5  # requests/s, when no rate is configured


class RateLimiter:
    """Evenly spaced requests at ``requests_per_second`` (None: unlimited until throttled)."""

    def __init__(self, requests_per_second: float | None, clock=time.monotonic, *, adaptive: bool = True) -> None:
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.adaptive = adaptive  # False: never waits, whatever the vendor says (requests_per_second=0)
        self.ceiling = requests_per_second
        self.rate = requests_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = 0.0
        self._sends: deque[float] = deque(maxlen=64)
        self._outcomes: deque[tuple[float, bool]] = deque(maxlen=WINDOW)
        self._floor = FLOOR_UNCONFIGURED if requests_per_second is None else requests_per_second * FLOOR_FRACTION
        self._admitted: float | None = None  # the rate the vendor let through when it last refused ours
        self._clean_at_cap = 0
        self._last_share = 0.0  # the refused share of the previous window
        self._over = 0  # consecutive windows above SLOW_DOWN_ABOVE
        self._probing = False  # climbing above the last measured quota
        self._probe_after = PROBE_AFTER

    def reserve(self) -> float:
        """Claim the next send slot; returns the seconds to wait before sending."""
        with self._lock:
            now = self._clock()
            self._sends.append(now)
            if self.rate is None:
                return 0.0
            slot = max(now, self._next_free)
            self._next_free = slot + 1.0 / self.rate
            return slot - now

    def admit(self) -> float:
        """A quota shared beyond this process answers here (see ``_quota``); a local one has no more
        to check once :meth:`reserve` has spaced the request."""
        return 0.0

    def record(self, throttled: bool, tokens: int = 0, overload: bool = False) -> None:
        """One answer: ``throttled`` when the vendor refused it for quota; ``overload`` when it
        refused it for its own load (never slows the limiter)."""
        if not self.adaptive or overload:
            return
        with self._lock:
            self._outcomes.append((self._clock(), throttled))
            if len(self._outcomes) < WINDOW:
                return
            share = sum(t for _, t in self._outcomes) / WINDOW
            span = self._outcomes[-1][0] - self._outcomes[0][0]
            self._outcomes.clear()
            self._over = self._over + 1 if share > SLOW_DOWN_ABOVE else 0
            if self._over >= WINDOWS_OVER or share > SLOW_DOWN_AT_ONCE:
                self._over = 0
                self._slow_down(share, span)
            elif share > SLOW_DOWN_ABOVE:
                pass  # one window over may be chance: wait for the next
            elif self.rate is not None and self.rate != self.ceiling \
                    and (share < SPEED_UP_BELOW or share <= self._last_share + NOT_WORSE and not self._at_cap()):
                self._speed_up(clean=share < SPEED_UP_BELOW)
            self._last_share = share

    def _slow_down(self, share: float, span: float) -> None:
        admitted = WINDOW * (1 - share) / span if span > 0 else None
        current = self.rate if self.rate is not None else self._observed_rate()
        target = admitted * UNDER_ADMITTED if admitted is not None else (current * UNDER_ADMITTED if current else None)
        if target is None:
            return
        if self._probing:  # a probe above the measured quota was refused: probe less often
            self._probe_after = min(self._probe_after * 2, MAX_PROBE_AFTER)
        self._admitted, self._probing = admitted, False
        self.rate = max(min(target, current or target), self._floor)
        self._clean_at_cap = 0

    def _at_cap(self) -> bool:
        return self._admitted is not None and self.rate is not None and self.rate >= self._admitted * UNDER_ADMITTED

    def _speed_up(self, clean: bool) -> None:
        """Climb towards the cap; above the admitted rate only after clean windows (no refusals)."""
        assert self.rate is not None
        cap = self.ceiling if self.ceiling is not None else float("inf")
        if self._admitted is not None:
            if self.rate >= self._admitted * UNDER_ADMITTED:
                if not clean:
                    return
                self._clean_at_cap += 1
                if self._clean_at_cap < self._probe_after:
                    return
                # the quota may have grown, or the refusals were not about our rate: probe again
                self._admitted, self._clean_at_cap, self._probing = None, 0, True
            else:
                cap = min(cap, self._admitted * UNDER_ADMITTED)
        self.rate = min(self.rate * INCREASE, cap)

    def _observed_rate(self) -> float | None:
        """Requests per second over the recent sends (used when no rate is configured)."""
        if len(self._sends) < 2:
            return None
        span = self._sends[-1] - self._sends[0]
        return (len(self._sends) - 1) / span if span > 0 else None


_SHARED: weakref.WeakValueDictionary[tuple, RateLimiter] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_limiter(key: tuple, requests_per_second: float | None) -> RateLimiter:
    """The process-wide limiter of one quota (``key``: vendor, host, account hash, model).

    Clients that ask for another rate get a limiter of their own: the rate is part of the key.
    A limiter lives as long as some client holds it."""
    with _SHARED_LOCK:
        limiter = _SHARED.get(key + (requests_per_second,))
        if limiter is None:
            limiter = RateLimiter(requests_per_second)
            _SHARED[key + (requests_per_second,)] = limiter
        return limiter
