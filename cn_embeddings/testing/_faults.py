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

    Nobody documents when a vendor decides a quota or how fast it refuses, so both are settings:
    ``quota_admit`` "arrival" (the default) decides as the request arrives, "departure" as its
    answer leaves; a refusal decided at arrival comes back after ``refuse_ms`` (0: at once, as
    gateways do; None: after the whole latency, the pessimistic case). ``latency_jitter`` spreads
    every latency uniformly by that share around ``latency_ms``. ``ratelimit_headers`` adds the
    quota to every answer as ``X-Ratelimit-Limit-Requests`` (or ``-Tokens``), per minute, as
    Qianfan documents.

    ``usage_scale`` multiplies the tokens every answer reports (a vendor's tokenizer counts other
    than the client's estimate: 1.3 is a tokenizer's few extra tokens per text); a token quota
    counts what the answers report.

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
    quota_admit: str = "arrival"
    refuse_ms: float | None = 0.0
    latency_jitter: float = 0.0
    ratelimit_headers: bool = False
    usage_scale: float = 1.0
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _script: deque[tuple[int, str | None, int]] = field(init=False, repr=False, default_factory=deque)
    _seen: int = field(init=False, repr=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        if self.quota_admit not in ("arrival", "departure"):
            raise ValueError(f"quota_admit is 'arrival' or 'departure', not {self.quota_admit!r}")

    def latency(self) -> float:
        """The seconds one answer waits: ``latency_ms`` spread by ``latency_jitter``."""
        if not self.latency_ms:
            return 0.0
        with self._lock:
            spread = self.latency_jitter * (self._rng.random() - 0.5) if self.latency_jitter else 0.0
        return self.latency_ms / 1000 * (1 + spread)

    def quota_headers(self) -> dict[str, str]:
        """The quota told in every answer's headers (per minute), when ``ratelimit_headers``."""
        rule = self.quota
        if not self.ratelimit_headers or rule is None or rule.kind == "inflight":
            return {}
        per_minute = f"{rule.limit * 60 / rule.window:g}"
        name = "X-Ratelimit-Limit-Tokens" if rule.kind == "tokens" else "X-Ratelimit-Limit-Requests"
        return {name: per_minute}

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
