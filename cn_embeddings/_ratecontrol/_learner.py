"""The rate one quota is paced at, in two states: *starting* and *held*.

- **Starting** (nobody stated the quota): BBR's startup pacing, ``STARTUP_GAIN`` (2/ln 2) times
  the most the vendor has delivered (accepted answers per second over a window, since the first
  send if sooner; a max filter, so an idle spell does not undo it), never below ``START_RATE``,
  while the in-flight window's slow start (``_inflight``) doubles per round trip too.
- **Held** at a rate from a decrease, then along **CUBIC**'s curve (RFC 9438, with botocore's
  ``BETA`` 0.7 and ``SCALE`` 0.4, in requests: a token rate scales it by the tokens a request
  carries): back to ``w_max`` within ``K``, held there ``HOLD`` seconds (every probe above a
  quota that counts refused requests costs a window of refusals), then probed above, never above
  twice the delivery rate (botocore's cap) nor a stated quota's ``ceiling``.

**A refusal** counts once per ``WINDOW`` after the last decrease (TCP's once per window: a quota
that counts refused requests keeps refusing for a window); that window doubles for each decrease
in a row with nothing admitted in between (RFC 6298's exponential backoff: a dozen refusals in a
row are one throttle, not a dozen decreases). If the window before the refused request admitted
at least ``BETA`` times the rate refused, that *admitted rate* is the quota as measured (BBR's
delivery rate): the rate is held there and a later run may start from it. Otherwise the window
says nothing about the quota (a throttle, or a window overrun): CUBIC's decrease to ``BETA`` times
the rate refused, back to it within ``K``; a throttle before anything was admitted slows the start
without ending it. A remembered rate is held without the hold: this run was never refused
at it, so it is a starting point probed above at once, never a ceiling.
"""

from __future__ import annotations

import enum
import math
from collections import deque

__all__ = ["RateLearner", "Source"]

INITIAL_BURST = 10  # requests a cold start sends at once (a short first call waits for no guess)
START_RATE = 60.0  # requests per second after the burst, before any answer
STARTUP_GAIN = 2 / math.log(2)  # BBR's startup pacing gain: doubles the delivery rate per round
WINDOW = 1.0  # seconds: the shortest window a vendor documents a quota over (per second)
BETA = 0.7  # RFC 9438 (CUBIC) multiplicative decrease, as botocore uses it
SCALE = 0.4  # RFC 9438's "C"
HOLD = 10.0  # seconds a rate learned from a refusal is held before CUBIC probes above it
FLOOR = 0.1  # requests per second: never slower than one request in ten seconds
DELIVERY_CAP = 2.0  # a probe never paces above this many times the delivery rate (botocore's)
JITTER_MARGIN = 0.02  # requests are spaced this much under the rate (GCRA's cell delay variation)


class Source(str, enum.Enum):
    """Where the rate a quota is paced at came from, most authoritative first."""

    CONFIGURED = "configured"
    TOLD = "told"
    REMEMBERED = "remembered"
    DOCUMENTED = "documented"
    LEARNED = "learned"
    NONE = "none"  # rate control is off


STATED = (Source.CONFIGURED, Source.TOLD, Source.DOCUMENTED)


class RateLearner:
    """One rate (requests or tokens per second) and how it moves; ``rate`` None: not paced."""

    def __init__(
        self, rate: float | None, *, source: Source, ceiling: float | None = None, now: float = 0.0, start: bool = False
    ) -> None:
        self.ceiling = ceiling if ceiling is not None else rate if source in STATED else None
        self.source = source
        self.configured = rate if source is Source.CONFIGURED else None  # a told quota never raises it
        self.rate: float | None = None
        self.starting = start
        self.w_max = self.k = self.hold_for = 0.0
        self.epoch = now
        self.last_cut = -math.inf
        self.untested = 0  # decreases in a row with nothing admitted in between
        self.best = 0.0  # the most a refusal found admitted: what a later run may start from
        self.cuts = 0  # decreases (and quotas told) so far
        self._answers: deque[tuple[float, float]] = deque()  # accepted answers over the last window
        self._carried = 0.0  # what they carried
        self._first_sent = math.inf
        self.unit = 1.0  # what one request carries (1 request; a token rate: its tokens, on average)
        if start:
            self.rate = START_RATE if ceiling is None else min(START_RATE, ceiling)
        elif rate is not None:
            self.hold(rate, now, HOLD if source is not Source.REMEMBERED else 0.0)
            self.best = 0.0 if source is Source.REMEMBERED else self.w_max

    def interval(self, cost: float = 1.0) -> float:
        """GCRA's emission interval for ``cost`` (1: a request), JITTER_MARGIN under the rate."""
        return cost / (self.rate * (1 - JITTER_MARGIN)) if self.rate and cost else 0.0

    def accepted(self, now: float, sent_at: float, amount: float = 1.0) -> None:
        """The start's pacing from the delivery rate; afterwards CUBIC's curve, never above twice
        the delivery rate (botocore's cap: a caller idle for long finds the curve far up)."""
        if self.rate is None:
            return
        if sent_at >= self.last_cut:
            self.untested = 0
        delivered = self._delivered(now, sent_at, amount)
        self.unit += (amount - self.unit) / 8  # CUBIC's curve is in requests: a token rate scales it
        if self.starting:  # BBR's max filter: an idle spell does not undo what was delivered
            self.rate = max(self.rate, STARTUP_GAIN * delivered)
        else:
            t = now - self.epoch  # CUBIC's concave return to w_max, the hold there, its convex probe
            scale = SCALE * self.unit
            curve = self.w_max - scale * max(self.k - t, 0.0) ** 3 + scale * max(t - self.k - self.hold_for, 0.0) ** 3
            self.rate = max(min(curve, max(self.w_max, DELIVERY_CAP * delivered)), FLOOR)
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)

    def _delivered(self, now: float, sent_at: float, amount: float) -> float:
        """What accepted answers carried (requests, or tokens) per second over the last WINDOW, or
        since the first send if sooner."""
        self._first_sent = min(self._first_sent, sent_at)
        self._answers.append((now, amount))
        self._carried += amount
        while self._answers[0][0] < now - WINDOW:
            self._carried -= self._answers.popleft()[1]
        return self._carried / max(min(WINDOW, now - self._first_sent), 1e-3)

    def refused(self, now: float, sent_at: float, sent_rate: float | None, admitted: float) -> bool:
        """A quota refusal of a request sent at ``sent_at``, paced at ``sent_rate``; ``admitted``:
        what the window before it admitted, per second. Returns whether the rate was lowered."""
        if sent_at < self.last_cut + WINDOW * 2**self.untested:
            return False
        if self.starting and not admitted:  # a throttle before anything was admitted: the start goes on, slower
            self.rate = max(BETA * (self.rate or START_RATE), FLOOR)
            self._cut(now)
            return True
        refused_at = admitted if self.starting else sent_rate or admitted  # the start's pace is a guess
        if admitted >= BETA * refused_at:  # the window measured the quota: held there, then probed
            self.best = max(self.best, admitted)
            self.hold(min(admitted, refused_at), now, HOLD)
        else:  # a throttle, or an overrun window: CUBIC's decrease, back to the rate refused within K
            self.hold(BETA * refused_at, now, HOLD, w_max=refused_at)
        self._cut(now)
        if self.source is not Source.CONFIGURED and self.source is not Source.TOLD:
            self.source = Source.LEARNED
        return True

    def _cut(self, now: float) -> None:
        self.last_cut = now
        self.untested += 1
        self.cuts += 1

    def hold(self, rate: float, now: float, hold_for: float = HOLD, w_max: float | None = None) -> None:
        """Pace at ``rate`` from ``now``, back along CUBIC's curve to ``w_max`` (``rate`` if None)
        within its ``K = cbrt((w_max - rate) / SCALE)``, held there ``hold_for`` seconds, then
        probed above."""
        self.rate = self._bounded(rate)
        self.w_max = self._bounded(w_max if w_max is not None else rate)
        self.k = ((self.w_max - self.rate) / (SCALE * self.unit)) ** (1 / 3)
        self.starting = False
        self.epoch = now
        self.hold_for = hold_for

    def _bounded(self, rate: float) -> float:
        return max(rate, FLOOR) if self.ceiling is None else min(max(rate, FLOOR), self.ceiling)

    def tell(self, rate: float, source: Source, now: float) -> bool:
        """A quota the vendor told (its headers): paced at once, and the ceiling from now on, though
        never above a configured one (a header lowers it, never raises it). A header repeated on
        every answer changes nothing after the first. Returns whether it changed."""
        rate = min(rate, self.configured) if self.configured is not None else rate
        if self.ceiling == rate and self.source is source:
            return False
        self.ceiling, self.source = rate, source
        self.hold(rate, now)
        self.best = max(self.best, rate)
        self.cuts += 1
        return True
