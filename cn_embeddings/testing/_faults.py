"""What the emulator should break, and the kind of per-model quota it enforces."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field

from ._quotas import QuotaRule

FAULT_KINDS = ("server_error", "rate_limit", "drop", "stall", "auth", "quota")


@dataclass
class Faults:
    """Random faults (rates in [0, 1]), latency, and a per-model quota.

    ``qps`` is the quota's limit per ``quota_window`` seconds (requests; tokens for the ``tokens``
    kind; requests at once for ``inflight``), kept the way ``quota_kind`` says (see
    :mod:`cn_embeddings.testing._quotas`): ``bucket`` (the default), ``moving``, ``fixed``,
    ``counting``, ``tokens`` or ``inflight``.

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
    rate_limit_code: str = "quota"  # random rate-limit faults say: "quota" (the caller's) or "overload" (the vendor's)
    qps: float | None = None
    quota_kind: str = "bucket"
    quota_window: float = 1.0
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _script: deque[tuple[int, str | None, int]] = field(init=False, repr=False, default_factory=deque)
    _seen: int = field(init=False, repr=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def quota(self) -> QuotaRule | None:
        """The per-model quota rule, or None when there is none."""
        return QuotaRule(self.quota_kind, self.qps, self.quota_window) if self.qps else None

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
        for kind, rate in (
            ("server_error", self.server_error_rate),
            ("rate_limit", self.rate_limit_rate),
            ("drop", self.drop_rate),
            ("stall", self.stall_rate),
        ):
            if roll < rate:
                return kind
            roll -= rate
        return None
