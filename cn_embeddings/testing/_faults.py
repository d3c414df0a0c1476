"""What the emulator should break, and the per-model quota it enforces."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

FAULT_KINDS = ("server_error", "rate_limit", "drop", "stall", "auth", "quota")


@dataclass
class Faults:
    """Random faults (rates in [0, 1]), latency, and a per-model quota in requests/second.

    ``scripted`` faults come first, in order, one per request: for example
    ``emulator.faults.script("auth", after=3)`` makes the fourth request an
    authentication failure.
    """

    latency_ms: float = 0.0
    server_error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    drop_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 5.0
    retry_after: float | None = None
    qps: float | None = None
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _script: deque = field(init=False, repr=False, default_factory=deque)
    _seen: int = field(init=False, repr=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def script(self, kind: str, *, after: int = 0, count: int = 1) -> None:
        """Fail ``count`` requests with ``kind`` once ``after`` more requests have been served."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._script.append((self._seen + after, kind, count))

    def draw(self) -> str | None:
        """The fault for the next request, if any."""
        with self._lock:
            number = self._seen
            self._seen += 1
            if self._script and number >= self._script[0][0]:
                start, kind, count = self._script.popleft()
                if count > 1:
                    self._script.appendleft((start, kind, count - 1))
                return kind
            roll = self._rng.random()
        for kind, rate in (("server_error", self.server_error_rate), ("rate_limit", self.rate_limit_rate),
                           ("drop", self.drop_rate), ("stall", self.stall_rate)):
            if roll < rate:
                return kind
            roll -= rate
        return None


class TokenBucket:
    """A per-model quota: ``qps`` requests per second with a burst of ``qps``."""

    def __init__(self, qps: float) -> None:
        self.qps = qps
        self.tokens = qps
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.qps, self.tokens + (now - self.stamp) * self.qps)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False
