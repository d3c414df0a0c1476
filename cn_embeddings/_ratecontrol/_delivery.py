"""What the vendor admitted just before a refusal: BBR's delivery-rate sample, for a window.

A quota is counted over a window (``WINDOW``, the shortest a vendor documents). When a request is
refused, the requests claimed before it and sent within the window before it, and not refused,
are what that window admitted: if that is close to the rate the refused request was paced at,
it is the quota as measured (``_learner``). Answers still on the way count as admitted. The same
record says how many requests the last window sent, refused ones included, which is what a lower
rate must wait out before pacing resumes (some windows count refused requests).
"""

from __future__ import annotations

from collections import deque

from ._learner import WINDOW
from ._slot import Slot

__all__ = ["Sent"]


class Sent:
    """The slots claimed over the last two windows, in claim order."""

    def __init__(self) -> None:
        self._slots: deque[Slot] = deque()

    def add(self, slot: Slot, now: float) -> None:
        self._slots.append(slot)
        while self._slots[0].sent_at < now - 2 * WINDOW:
            self._slots.popleft()

    def admitted(self, refused: Slot, tokens: bool) -> float:
        """Requests (or their tokens) per second the window before ``refused`` admitted."""
        total = 0.0
        for slot in self._slots:
            if slot is refused:
                break
            if refused.sent_at - WINDOW < slot.sent_at <= refused.sent_at and not slot.refused:
                total += slot.cost if tokens else 1.0
        return total / WINDOW

    def in_window(self, now: float) -> int:
        """Requests sent in the last window, refused ones included."""
        return sum(1 for slot in self._slots if now - WINDOW < slot.sent_at <= now)
