"""GCRA, the generic cell rate algorithm (ITU-T I.371), in its virtual-scheduling form.

The pacer keeps one *theoretical arrival time* (TAT). A request claimed at ``now`` goes out at
``max(now, TAT)`` and pushes the TAT one emission interval past that. With a burst tolerance of
zero, no window of any length holds more than one request per interval, which is why one pacing
is safe under every way a vendor may count a quota (moving or fixed windows, token buckets,
windows that count refusals). ``free`` claims go out at once: the start's initial burst.
"""

from __future__ import annotations

import math

__all__ = ["Gcra"]


class Gcra:
    """Even spacing of claims; the interval is given per claim (the rate may change between them)."""

    def __init__(self, free: int = 0) -> None:
        self.tat = -math.inf
        self.free = free

    def claim(self, now: float, interval: float) -> float:
        """The time a request claimed at ``now`` may be sent; ``interval`` 0: not paced."""
        if self.free > 0:
            self.free -= 1
            self.tat = max(self.tat, now + interval)  # the first claim after the burst waits one interval
            return now
        due = max(now, self.tat)
        self.tat = due + interval
        return due

    def restart(self, now: float) -> None:
        """Forget the claims made so far (after the rate was lowered: they are claimed again)."""
        self.tat = now
        self.free = 0
