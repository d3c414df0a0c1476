"""A client-side request limiter shared by the threads and tasks of one client.

``reserve()`` is pure bookkeeping under a lock and returns how long the caller
must sleep before sending; the sync driver sleeps with ``time.sleep`` and the
async one with ``asyncio.sleep``, so one limiter serves both. Requests are
spaced evenly at ``1 / rate`` so a steady run never trips a vendor's
per-second quota.

It also adapts, to the vendor's quota and not to its overload. Over each
window of 20 answers (or of 5 s, when fewer than 20 arrive in that time) it
looks at the share refused for quota (overload answers, such as Ark's
``ServerOverloaded`` or Qianfan's cluster limits, are retried but never slow
it down). Above 50% in one window, or above 30% for two windows in a row (one
alone is often chance), the vendor may be refusing our rate: the limiter
measures the rate the vendor admitted in that window and drops to 90% of it,
never below a quarter of the configured rate, so a call keeps moving. When
the refusals come right after a step up from a clean window, it goes no lower
than 90% of that clean rate: a quota that counts refused requests lets almost
nothing through above it, so what leaked through would measure far too low.

A slowdown is then on trial for two windows. Under a real quota, 90% of the
admitted rate is refused (almost) never, and the slowdown stays. Refusals that
go on bring a second slowdown (a burst allowance may have inflated the first
measure). Refusals that go on at the same share through both were not about
our rate (random 429s, a vendor's peak-time refusals under a quota code): both
are undone, and that share becomes the baseline the next refusals are measured
against. A window where everything is refused
measures no quota at all (an outage): the limiter sits at its floor and, once
answers come back, doubles its rate per clean window.

Below a confirmed admitted rate it climbs back by 10% per window as long as
climbing does not raise the refused share by more than 10 points. It stays at
90% of the admitted rate until 10 clean windows (under 5% refused) show the
quota may have grown, then probes above it, 10% per clean window; the first
window with refusals ends the probe and doubles that wait (up to 40 windows),
so a run that exceeds a quota settles just under it.

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
from dataclasses import dataclass, field

__all__ = ["RateLimiter", "shared_limiter"]

WINDOW = 20
WINDOW_SECONDS = 5.0  # a window also closes after this long, once it holds MIN_WINDOW answers
MIN_WINDOW = 5
SLOW_DOWN_ABOVE = 0.30
WINDOWS_OVER = 2  # windows in a row above it: one alone happens by chance under random refusals
SLOW_DOWN_AT_ONCE = 0.5  # a share this high is no chance: slow down after one window
TRIAL_WINDOWS = 2  # windows after a slowdown that decide whether it helped
TRIAL_STEPS = 2  # slowdowns that must leave the refused share unchanged before they are undone
STILL_REFUSED = 0.10  # a slowdown that leaves at least this share (above the baseline) did not stop the refusals
SPEED_UP_BELOW = 0.05  # a clean window
NOT_WORSE = 0.10  # climb while the refused share is no more than this above the last window's
UNDER_ADMITTED = 0.9
INCREASE = 1.1
RECOVER = 2.0  # per clean window after an outage, up to the rate before it
PROBE_AFTER = 10  # windows at the measured quota before probing above it; doubles after a failed probe
MAX_PROBE_AFTER = 40
FLOOR_FRACTION = 0.25  # of the configured rate
FLOOR_UNCONFIGURED = 0.5  # requests/s, when no rate is configured


@dataclass
class _Trial:
    """A slowdown waiting for proof that it lowered the refusals."""

    rate: float | None  # before the first slowdown of this episode
    admitted: float | None
    share: float  # the refused share that caused this step
    steps: int = 1  # slowdowns in this episode
    windows: list[tuple[float, float, int]] = field(default_factory=list)  # (share, span, answers) since


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
        self._outcomes: list[tuple[float, bool]] = []
        self._floor = FLOOR_UNCONFIGURED if requests_per_second is None else requests_per_second * FLOOR_FRACTION
        self._admitted: float | None = None  # the rate the vendor let through when it last refused ours
        self._baseline = 0.0  # the share refused whatever our rate, learned from slowdowns that did not help
        self._trial: _Trial | None = None
        self._recover_to: float | None = None  # after an outage: climb fast back to this rate
        self._clean_at_cap = 0
        self._last_share = 0.0  # the refused share of the previous window
        self._stepped_from: float | None = None  # the rate before the last step up from a clean window
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
            now = self._clock()
            self._outcomes.append((now, throttled))
            n = len(self._outcomes)
            if n < WINDOW and (n < MIN_WINDOW or now - self._outcomes[0][0] < WINDOW_SECONDS):
                return
            share = sum(t for _, t in self._outcomes) / n
            span = self._outcomes[-1][0] - self._outcomes[0][0]
            self._outcomes = []
            if self._trial is not None:
                self._judge(share, span, n)
            else:
                self._window(share, span, n)
            self._last_share = share

    def _window(self, share: float, span: float, n: int) -> None:
        excess = share - self._baseline
        self._over = self._over + 1 if excess > SLOW_DOWN_ABOVE else 0
        refused_probe = self._probing and excess >= SPEED_UP_BELOW  # above a measured quota, refusals are no chance
        if self._over >= WINDOWS_OVER or excess > SLOW_DOWN_AT_ONCE or refused_probe:
            self._over = 0
            self._slow_down(share, span, n)
            return
        if self._baseline:  # follow the background share, so it fades once those refusals stop
            self._baseline = 0.8 * self._baseline + 0.2 * share
            if self._baseline < 0.02:
                self._baseline = 0.0
        if excess <= SLOW_DOWN_ABOVE and self.rate is not None and self.rate != self.ceiling \
                and (share < SPEED_UP_BELOW or share <= self._last_share + NOT_WORSE and not self._at_cap()):
            self._speed_up(clean=share < SPEED_UP_BELOW)

    def _slow_down(self, share: float, span: float, n: int, trial: _Trial | None = None) -> None:
        admitted = n * (1 - share) / span if span > 0 else None
        current = self.rate if self.rate is not None else self._observed_rate()
        target = admitted * UNDER_ADMITTED if admitted is not None else (current * UNDER_ADMITTED if current else None)
        if target is None:
            return
        outage = target < self._floor  # (nearly) everything refused: no measure of a quota
        if not outage and trial is None and self._stepped_from is not None:
            # refused just after a step up from a clean rate: the vendor's limit lies between the
            # two, so go back under the clean rate rather than to what leaked through, which says
            # little when the vendor counts refused requests against the quota (then almost
            # nothing passes above it)
            target = max(target, self._stepped_from * UNDER_ADMITTED)
            admitted = max(admitted or 0.0, target / UNDER_ADMITTED)
        self._stepped_from = None
        if trial is None:
            trial = _Trial(self.rate, self._admitted, share)
        else:
            trial = _Trial(trial.rate, trial.admitted, share, trial.steps + 1)
        if self._probing:  # a probe above the measured quota was refused: probe less often
            self._probe_after = min(self._probe_after * 2, MAX_PROBE_AFTER)
        self._probing = False
        if outage:
            # come back fast, to just under the rate that was refused (refusals at the floor
            # itself, while the outage lasts, say nothing about that rate)
            if current is not None and current > self._floor:
                self._recover_to = current * UNDER_ADMITTED
            self._admitted, self._trial = None, None
        else:
            self._admitted, self._recover_to, self._trial = admitted, None, trial
        self.rate = max(min(target, current or target), self._floor)
        self._clean_at_cap = 0

    def _judge(self, share: float, span: float, n: int) -> None:
        """Keep a slowdown that stopped the refusals. One that did not is followed by a second:
        a quota's refusals fall as we slow down (a burst allowance may have inflated the first
        measure of the admitted rate; a quota that counts refused requests refuses even more
        until we are under it), while refusals that are not about our rate stay where they
        were. When they stay after two slowdowns, both are undone and that share becomes the
        baseline."""
        trial = self._trial
        assert trial is not None
        trial.windows.append((share, span, n))
        if len(trial.windows) < TRIAL_WINDOWS:
            return
        self._trial = None
        n_all = sum(w[2] for w in trial.windows)
        after = sum(w[0] * w[2] for w in trial.windows) / n_all
        if after < STILL_REFUSED + self._baseline:
            return
        if trial.steps >= TRIAL_STEPS and trial.share - NOT_WORSE <= after <= trial.share + NOT_WORSE:
            self.rate, self._admitted = trial.rate, trial.admitted
            self._baseline = max(self._baseline, after)
        else:
            self._slow_down(after, sum(w[1] for w in trial.windows), n_all, trial)

    def _at_cap(self) -> bool:
        return self._admitted is not None and self.rate is not None and self.rate >= self._admitted * UNDER_ADMITTED

    def _speed_up(self, clean: bool) -> None:
        """Climb, remembering the rate a clean window stepped up from."""
        before = self.rate
        self._climb(clean)
        self._stepped_from = before if clean and before is not None and self.rate != before else None

    def _climb(self, clean: bool) -> None:
        """Climb towards the cap; above the admitted rate only after clean windows (no refusals)."""
        assert self.rate is not None
        cap = self.ceiling if self.ceiling is not None else float("inf")
        if self._recover_to is not None:  # back from an outage: fast while clean
            if clean:
                self.rate = min(self.rate * RECOVER, self._recover_to, cap)
            else:
                self.rate = min(self.rate * INCREASE, cap)
            if self.rate >= min(self._recover_to, cap):  # back: hold here as at a measured quota
                self._admitted, self._recover_to = self.rate / UNDER_ADMITTED, None
            return
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
