"""GCRA, the generic cell rate algorithm (ITU-T I.371), in its virtual-scheduling form, for
requests and for tokens, and a request's price in tokens.

The pacer keeps one *theoretical arrival time* (TAT) per schedule. A request claimed at ``now``
goes out at ``max(now, TAT)`` and pushes the TAT one emission interval past that. With a burst
tolerance of zero, no window of any length holds more than one request per interval, which is
why one pacing is safe under every way a vendor may count a quota (moving or fixed windows,
token buckets, windows that count refusals).

A request's tokens are priced before it is sent from the client's estimate times ``ratio``, the
reported usage over the estimate, learned from every answer against that request's own raw
estimate (an EWMA with gain 1/8, as RFC 6298 smooths; bounded to ``RATIO_RANGE``). The token
schedule moves only by what claims priced: an answer never pushes it ahead of the clock, so a
vendor that reports more than it counts cannot stall the pacing.
"""

from __future__ import annotations

import math

__all__ = ["Gcra", "Pacer"]

RATIO_GAIN = 1 / 8
RATIO_RANGE = (0.25, 8.0)  # the reported usage over the client's estimate, as far as it is believed


class Gcra:
    """Even spacing of claims; the interval is given per claim (the rate may change between them)."""

    def __init__(self) -> None:
        self.tat = -math.inf

    def claim(self, now: float, interval: float) -> float:
        """The time a request claimed at ``now`` may be sent; ``interval`` 0: not paced."""
        due = max(now, self.tat)
        self.tat = due + interval
        return due


class Pacer:
    """The request and token schedules of one quota, and a request's token price."""

    def __init__(self, free: int = 0) -> None:
        self.requests, self.tokens = Gcra(), Gcra()
        self.free = free  # claims that go out at once (a cold start's burst), before any pacing
        self.restarted = -math.inf  # a send time claimed before this, not yet reached, is claimed again
        self.ratio = 1.0

    def claim(self, now: float, interval: float, token_interval: float) -> float:
        if self.free > 0:  # the first claim after the burst waits one interval
            self.free -= 1
            self.requests.tat = max(self.requests.tat, now + interval)
            return now
        due = self.requests.claim(now, interval)
        return max(due, self.tokens.claim(now, token_interval)) if token_interval else due

    def restart(self, at: float, now: float) -> None:
        """Forget the claims made so far: pacing at a new rate resumes at ``at``."""
        self.requests.tat = self.tokens.tat = at
        self.restarted, self.free = now, 0

    def answered(self, estimate: float, reported: int) -> None:
        """A request estimated at ``estimate`` tokens reported ``reported``: the price learns from it."""
        if reported and estimate:
            sample = min(max(reported / estimate, RATIO_RANGE[0]), RATIO_RANGE[1])
            self.ratio += (sample - self.ratio) * RATIO_GAIN
