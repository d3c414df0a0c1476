"""The rate one quota is paced at: a start that costs nothing until the vendor says no, then
the admitted rate held, then CUBIC's probe above it.

- **Start** (a quota nobody told us): ``INITIAL_BURST`` requests go at once, then the rate is
  BBR's startup pacing, ``STARTUP_GAIN`` (2/ln 2) times the most the vendor has delivered
  (accepted answers per second over a window; BBR's max filter, so an idle spell does not undo
  it), never below ``START_RATE``. The delivery rate doubles every round trip while the
  in-flight window (``_inflight``) doubles, so a short call from a cold process is never paced by
  a guess, and a vendor that reports refusals only after the whole latency is overshot by about
  one round's growth.
- **The first refusal** ends the start. The rate becomes the *admitted rate*: the requests sent in
  the ``WINDOW`` before the refused one, less those refused (BBR's delivery rate, measured by send
  time, so answers still in flight count). Under a moving or fixed window that is the quota
  itself; under a token bucket it includes the bucket's depth, and the next refusal, a window
  later, measures again. A refusal of a request sent within a window of the last decrease belongs
  to that decrease (TCP's once-per-window rule): a quota that counts refused requests keeps
  refusing for a window after the cause. It measures the decrease again, lower only, at the first
  refused request sent (refusals come back out of order; the controller keeps which one).
- **Afterwards, CUBIC** (RFC 9438, with botocore's constants ``BETA`` 0.7 and ``SCALE`` 0.4) from
  the admitted rate as ``W_max``: the rate holds there for ``HOLD`` seconds and CUBIC's own
  ``K = cbrt(W_max (1 - BETA) / SCALE)``, then probes above it along ``SCALE (t - K)**3 + W_max``,
  only while the caller keeps the in-flight bound at least half used (Netflix's guard against
  growing while the caller is the bottleneck), never above a known quota's ceiling. A refusal
  during a probe returns to the plateau that held; any other lowers the rate to the admitted rate,
  never below ``BETA`` times the rate refused (a window that counts refused requests admits next
  to nothing while it is overrun, which says little about its size). The long hold is the price
  of quotas that count refusals: there, every probe costs a window of refusals.

A quota that is known (configured, told by the vendor's headers, remembered, or documented)
skips the start: it is paced at once. A quota someone *stated* (configured, told, documented)
refusing requests paced under it says nothing about its size, only that the vendor counts them
unevenly: where it decides as answers leave, the answers' latency spread bunches evenly sent
requests (GCRA's cell delay variation, ITU-T I.371). So a refusal steps the rate down by
``STATED_STEP``, at most once a window, never below the rate that spread makes safe (the quota
less one spread per window), and CUBIC climbs back to the quota after the hold. A learned rate
refused though the window before the refusal admitted at least its rate is in the same case: the
rate is not above the quota, and measuring it again would hold it where it is refused, so it
steps down likewise, under the admitted rate.
"""

from __future__ import annotations

import enum
import math

__all__ = ["RateLearner", "Source"]

INITIAL_BURST = 10  # requests sent at once by a cold start
START_RATE = 60.0  # requests per second after the burst, before any answer
STARTUP_GAIN = 2 / math.log(2)  # BBR's startup pacing gain: doubles the delivery rate per round
WINDOW = 1.0  # seconds: the shortest window a vendor documents a quota over (per second)
BETA = 0.7  # RFC 9438 (CUBIC) multiplicative decrease, as botocore uses it
SCALE = 0.4  # RFC 9438's "C"
BACKOFF = 0.9  # the least a refusal lowers the rate to, as Netflix's AIMDLimit backs off
FLOOR = 0.1  # requests per second: never slower than one request in ten seconds
HOLD = 30.0  # seconds the admitted rate is held before CUBIC's curve resumes (its own K follows)
JITTER_MARGIN = 0.02  # requests are spaced this much under the rate (GCRA's cell delay variation)
STATED_STEP = 0.95  # a stated quota refused: the rate steps this far down, once a window


class Source(str, enum.Enum):
    """Where the rate a quota is paced at came from, most authoritative first."""

    CONFIGURED = "configured"
    TOLD = "told"
    REMEMBERED = "remembered"
    DOCUMENTED = "documented"
    LEARNED = "learned"
    NONE = "none"  # rate control is off


class RateLearner:
    """One rate (requests or tokens per second) and how it moves; ``rate`` None: not paced."""

    def __init__(self, rate: float | None, *, ceiling: float | None, source: Source, start: bool) -> None:
        self.rate = START_RATE if start and rate is None else rate
        self.ceiling = ceiling
        self.source = source
        self.starting = start
        self.w_max = 0.0
        self.k = 0.0
        self.epoch = 0.0
        self.last_cut = -math.inf
        self.least = 0.0
        if start and ceiling is not None and self.rate is not None:
            self.rate = min(self.rate, ceiling)

    @property
    def learned(self) -> bool:
        """Whether the rate comes from refusals (this run's or a remembered run's), not from a quota
        someone stated: only such a rate is drained after a decrease and remembered for later runs."""
        return self.source in (Source.LEARNED, Source.REMEMBERED)

    def interval(self, cost: float = 1.0) -> float:
        """GCRA's emission interval for ``cost`` (1: a request), JITTER_MARGIN under the rate."""
        return cost / (self.rate * (1 - JITTER_MARGIN)) if self.rate and cost else 0.0

    def ramp(self, delivered: float) -> None:
        """The start's pacing from the delivery rate (accepted answers per second so far)."""
        if self.starting and self.rate is not None:
            self.rate = max(START_RATE, STARTUP_GAIN * delivered)
            if self.ceiling is not None:
                self.rate = min(self.rate, self.ceiling)

    def accepted(self, now: float, busy: bool) -> None:
        """CUBIC's growth after a decrease, only while the caller is busy."""
        if self.starting or self.rate is None or not busy or not self.w_max:
            return
        t = now - self.epoch - HOLD
        self.rate = max(self.w_max, SCALE * (t - self.k) ** 3 + self.w_max)
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)

    def refused(
        self, now: float, sent_at: float, sent_rate: float | None, admitted: float | None, spread: float = 0.0
    ) -> bool:
        """A quota refusal of a request sent at ``sent_at`` (paced at ``sent_rate``); ``admitted``:
        the admitted rate over the window before it; ``spread``: the range of the answers' recent
        latencies. Returns whether the rate was lowered: a refusal within a window of the last
        decrease belongs to it, and only refines a learned rate."""
        if sent_at < self.last_cut + WINDOW:
            if self.learned and admitted and self.rate and max(admitted, self.least) < self.rate:
                self.hold(max(admitted, self.least), self.epoch)  # the same decrease, measured better
            return False
        first = self.starting or self.rate is None
        probe = bool(self.w_max and self.rate and self.rate > self.w_max)
        # the quota as someone stated it, or as a learned rate's window measured it when that window
        # admitted at least its rate (the vendor counts unevenly: the rate is not above the quota)
        quota: float | None = None
        if not first and sent_rate:
            if not self.learned:
                quota = self.ceiling
            elif admitted and admitted >= sent_rate and not probe:
                quota = admitted
        # its safe rate: one latency spread per window under it (refused even there, the rate is
        # measured below as a learned rate would be)
        safe = quota * (1 - max(JITTER_MARGIN, min(spread / WINDOW, 1 - BETA))) if quota else 0.0
        step = False
        if quota and sent_rate and sent_rate > safe:
            basis, step = max(sent_rate * STATED_STEP, safe), True
        elif self.starting:
            basis = admitted or START_RATE * BETA
        elif self.rate is None:  # a token quota nobody told: its first refusal measures it
            if not admitted:
                return False
            basis = admitted
        elif probe:
            basis = self.w_max  # a probe above the rate held without refusal: back to that plateau
        elif sent_rate:
            # never below CUBIC's multiplicative decrease: a window that counts refused requests
            # admits next to nothing while it is overrun, which says little about its size
            basis = min(max(admitted or 0.0, sent_rate * BETA), sent_rate)
        else:
            return False
        self.hold(basis, now)
        # what measuring the same decrease again may lower it to: the first measure is the roughest
        # (a bucket's depth, answers not yet in), later ones move by at most AIMD's backoff; a step
        # is no measure, and not measured again
        self.least = self.w_max if step else self.w_max * (BETA if first else BACKOFF)
        self.last_cut = now
        return True

    def hold(self, rate: float, now: float) -> None:
        """Pace at ``rate`` from ``now`` as CUBIC's ``W_max``: held for K seconds, then probed above."""
        self.w_max = max(rate, FLOOR)
        if self.ceiling is not None:
            self.w_max = min(self.w_max, self.ceiling)
        self.rate = self.w_max
        self.k = (self.w_max * (1 - BETA) / SCALE) ** (1 / 3)
        self.epoch = now
        self.starting = False
        if self.source is Source.NONE:
            self.source = Source.LEARNED

    def tell(self, rate: float, source: Source, limit: float | None) -> bool:
        """A quota the vendor told (its headers): paced at once, and the ceiling from now on, though
        never above ``limit`` (a configured quota is lowered by a header, never raised). A header
        repeated on every answer changes nothing after the first. Returns whether it changed."""
        rate = min(rate, limit) if limit is not None else rate
        if self.ceiling == rate and self.source is source:
            return False
        self.rate = self.ceiling = rate
        self.w_max = 0.0
        self.starting = False
        self.source = source
        return True
