"""The kinds of quota a vendor may keep, per model, for the emulator and for simulations.

No vendor documents how it counts a quota (docs/wire-reference.md §8.4), so the emulator
can keep each plausible kind, and a client is tested against all of them:

- ``moving``: at most ``limit`` admitted requests in any window of ``window`` seconds;
- ``fixed``: at most ``limit`` admitted in each aligned window (``[0, w)``, ``[w, 2w)``...);
- ``bucket``: a token bucket of ``limit`` per window, as deep as ``limit``;
- ``counting``: a moving window that counts refused requests too, so sending above the
  quota keeps everything refused until the sender slows down;
- ``tokens``: at most ``limit`` tokens admitted in any moving window (a TPM quota);
- ``inflight``: at most ``limit`` requests being served at once.

Each decision takes the time as an argument (seconds, any origin), so the same
classes run under a real clock in the emulator and under a fake one in tests.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["QUOTA_KINDS", "QuotaRule", "make_quota"]

QUOTA_KINDS = ("moving", "fixed", "bucket", "counting", "tokens", "inflight")


@dataclass(frozen=True)
class QuotaRule:
    """A quota's kind, its limit (requests, or tokens for ``tokens``, per ``window`` seconds; or
    requests at once for ``inflight``)."""

    kind: str = "bucket"
    limit: float = 10.0
    window: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in QUOTA_KINDS:
            raise ValueError(f"unknown quota kind {self.kind!r}; one of {', '.join(QUOTA_KINDS)}")
        if self.limit <= 0 or self.window <= 0:
            raise ValueError("a quota's limit and window must be positive")


class _Quota:
    """One model's quota state; ``admit`` decides a request, ``done`` ends it (in-flight caps)."""

    def __init__(self, rule: QuotaRule) -> None:
        self.rule = rule
        self.lock = threading.Lock()

    def admit(self, now: float, tokens: int = 0) -> bool:
        with self.lock:
            return self._admit(now, tokens)

    def done(self) -> None:
        """A request admitted by this quota has been answered."""

    def _admit(self, now: float, tokens: int) -> bool:
        raise NotImplementedError


class _Moving(_Quota):
    def __init__(self, rule: QuotaRule, count_refused: bool = False) -> None:
        super().__init__(rule)
        self.times: deque[tuple[float, float]] = deque()
        self.count_refused = count_refused
        self.total = 0.0

    def _admit(self, now: float, tokens: int) -> bool:
        while self.times and self.times[0][0] <= now - self.rule.window:
            self.total -= self.times.popleft()[1]
        cost = float(tokens) if self.rule.kind == "tokens" else 1.0
        ok = self.total + cost <= self.rule.limit
        if ok or self.count_refused:
            self.times.append((now, cost))
            self.total += cost
        return ok


class _Fixed(_Quota):
    def __init__(self, rule: QuotaRule) -> None:
        super().__init__(rule)
        self.slot = -1
        self.count = 0

    def _admit(self, now: float, tokens: int) -> bool:
        slot = int(now // self.rule.window)
        if slot != self.slot:
            self.slot, self.count = slot, 0
        if self.count + 1 > self.rule.limit:
            return False
        self.count += 1
        return True


class _Bucket(_Quota):
    def __init__(self, rule: QuotaRule) -> None:
        super().__init__(rule)
        self.level = rule.limit
        self.stamp: float | None = None

    def _admit(self, now: float, tokens: int) -> bool:
        rate = self.rule.limit / self.rule.window
        if self.stamp is not None:
            self.level = min(self.rule.limit, self.level + (now - self.stamp) * rate)
        self.stamp = now
        if self.level >= 1:
            self.level -= 1
            return True
        return False


class _InFlight(_Quota):
    def __init__(self, rule: QuotaRule) -> None:
        super().__init__(rule)
        self.serving = 0

    def _admit(self, now: float, tokens: int) -> bool:
        if self.serving >= self.rule.limit:
            return False
        self.serving += 1
        return True

    def done(self) -> None:
        with self.lock:
            self.serving = max(0, self.serving - 1)


def make_quota(rule: QuotaRule) -> _Quota:
    """A fresh quota state for ``rule``."""
    if rule.kind in ("moving", "tokens"):
        return _Moving(rule)
    if rule.kind == "counting":
        return _Moving(rule, count_refused=True)
    if rule.kind == "fixed":
        return _Fixed(rule)
    if rule.kind == "bucket":
        return _Bucket(rule)
    return _InFlight(rule)
