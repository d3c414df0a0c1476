"""One vendor quota shared by processes and machines, kept in Redis through ``limits``.

Every client with the same ``quota_url``, vendor, host, account (a hash of
the credential) and model draws from one budget:

- requests: a moving window in Redis (``limits``' Redis storage and its Lua
  script) of ``rate`` requests per second. The rate is the configured one,
  lowered to the rate any process last published when the vendor throttled
  it (kept 30 s in Redis), so throttling seen by one process slows them all;
- tokens, when ``tokens_per_minute`` is set: a fixed one-minute window that
  each answer's tokens are added to; no request starts while it is spent.

Each process still spaces its own requests with its local adaptive limiter.
Redis is asked with a 0.25 s socket timeout; when it does not answer, the
quota says so once in the log and falls back to the local limiter, trying
Redis again every few seconds, so a call never hangs on it.

The Redis calls are short and blocking (a round trip on a LAN), also from
async code. ``limits`` was chosen over ``pyrate-limiter`` because its
storage takes the limit per call, which an adaptive shared rate needs, and
its non-blocking calls fit the retry flow, which does its own sleeping.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
import weakref
from typing import Any
from urllib.parse import urlsplit

from ._exceptions import ConfigurationError
from ._ratelimit import RateLimiter, shared_limiter

__all__ = ["PASSWORD_ENV", "QUOTA_URL_ENV", "SharedQuota", "check_quota_url", "shared_quota"]

log = logging.getLogger("cn_embeddings")

QUOTA_URL_ENV = "CN_EMBEDDINGS_QUOTA_URL"
PASSWORD_ENV = "CN_EMBEDDINGS_QUOTA_PASSWORD"  # noqa: S105 - a variable name
RATE_TTL = 30  # seconds a published slower rate holds
RETRY_REDIS_AFTER = 5.0  # seconds between attempts while Redis is unreachable
REFRESH_RATE_EVERY = 1.0


def check_quota_url(url: str) -> None:
    """A quota URL is ``redis://host:port/db`` (or ``rediss://``, ``unix://``) and holds no password:
    it is configuration, serialized with the rest; the password comes from the environment."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(f"quota_url must be redis://host:port/db, rediss:// or unix://, "
                                 f"not {parts.scheme or 'no scheme'}://")
    if parts.password is not None or (parts.username and parts.scheme != "unix"):
        raise ConfigurationError(f"quota_url must not hold a password (it is saved with the configuration); "
                                 f"set {PASSWORD_ENV} instead")
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigurationError("quota_url has no host")


class SharedQuota:
    """The limiter of one quota in Redis; same interface as :class:`RateLimiter`."""

    def __init__(self, url: str, key: tuple, requests_per_second: float, tokens_per_minute: int | None) -> None:
        from limits import RateLimitItemPerMinute
        from limits.storage import RedisStorage
        from limits.strategies import FixedWindowRateLimiter

        self.local: RateLimiter = shared_limiter(key, requests_per_second)
        self.ceiling = requests_per_second
        self.name = "cn-embeddings/" + "/".join(str(part) for part in key)
        parts = urlsplit(url)
        self._where = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
        options: dict[str, Any] = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
        if os.environ.get(PASSWORD_ENV):
            options["password"] = os.environ[PASSWORD_ENV]
        self._storage = RedisStorage(url, key_prefix="cn-embeddings", wrap_exceptions=True, **options)
        self._redis: Any = self._storage.get_connection()
        self._tokens = ((FixedWindowRateLimiter(self._storage), RateLimitItemPerMinute(tokens_per_minute))
                        if tokens_per_minute else None)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._warned = False
        self._shared_rate: float | None = None
        self._rate_read_at = -math.inf
        self._published: float | None = None

    @property
    def rate(self) -> float:
        """The rate the whole quota runs at now."""
        return min(self.ceiling, self._shared_rate or self.ceiling, self.local.rate or self.ceiling)

    # -- the limiter interface used by the retry flow ------------------------------------------

    def reserve(self) -> float:
        """This process's own spacing (its share of the work never bursts)."""
        return self.local.reserve()

    def admit(self) -> float:
        """Take a slot of the shared budget: 0.0 when taken, else the seconds to wait before asking
        again."""
        if not self._redis_up():
            return 0.0
        try:
            if self._tokens is not None and not self._tokens[0].test(self._tokens[1], self.name):
                stats = self._tokens[0].get_window_stats(self._tokens[1], self.name)
                return max(stats.reset_time - time.time(), 0.05)
            self._refresh_rate()
            limit, window = self._window()
            if self._storage.acquire_entry(self.name, limit, window):
                return 0.0
            start, _ = self._storage.get_moving_window(self.name, limit, window)
            return max(start + window - time.time(), 0.005) + random.uniform(0, 0.01)  # noqa: S311 - jitter
        except Exception as error:  # noqa: BLE001 - any storage failure: fall back, never hang
            self._went_down(error)
            return 0.0

    def record(self, throttled: bool, tokens: int = 0, overload: bool = False) -> None:
        self.local.record(throttled, overload=overload)
        if not self._redis_up():
            return
        try:
            if tokens and self._tokens is not None:
                self._tokens[0].hit(self._tokens[1], self.name, cost=tokens)
            rate = self.local.rate
            if rate is not None and rate != self._published and (rate < self.ceiling or self._published):
                self._redis.set(f"cn-embeddings:{self.name}:rate", repr(rate), ex=RATE_TTL)
                self._published = rate
        except Exception as error:  # noqa: BLE001
            self._went_down(error)

    # -- internals ----------------------------------------------------------------------------

    def _window(self) -> tuple[int, int]:
        """(requests, seconds): the moving window for the current rate; Redis expiries are whole
        seconds, so rates under 1/s use a longer window."""
        rate = self.rate
        seconds = 1 if rate >= 1 else math.ceil(1 / rate)
        return max(1, math.floor(rate * seconds)), seconds

    def _refresh_rate(self) -> None:
        now = time.monotonic()
        if now - self._rate_read_at < REFRESH_RATE_EVERY:
            return
        self._rate_read_at = now
        value = self._redis.get(f"cn-embeddings:{self.name}:rate")
        self._shared_rate = float(value) if value else None

    def _redis_up(self) -> bool:
        with self._lock:
            if self._down_until and time.monotonic() >= self._down_until:
                self._down_until = 0.0  # try Redis again; the next failure is not logged again
            return not self._down_until

    def _went_down(self, error: BaseException) -> None:
        with self._lock:
            first, self._warned = not self._warned, True
            self._down_until = time.monotonic() + RETRY_REDIS_AFTER
        if first:
            log.warning("quota store %s unreachable (%s); this process keeps its own limit until it is back",
                        self._where, type(error).__name__)


_SHARED: weakref.WeakValueDictionary[tuple, SharedQuota] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_quota(url: str, key: tuple, requests_per_second: float, tokens_per_minute: int | None) -> SharedQuota:
    """The process-wide handle on one shared quota (one Redis connection pool per quota)."""
    with _SHARED_LOCK:
        handle = _SHARED.get((url, key, requests_per_second, tokens_per_minute))
        if handle is None:
            handle = SharedQuota(url, key, requests_per_second, tokens_per_minute)
            _SHARED[(url, key, requests_per_second, tokens_per_minute)] = handle
        return handle
