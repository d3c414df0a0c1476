"""One vendor quota shared by processes and machines: its GCRA pacing kept in Redis.

Every client with the same ``quota_url``, vendor, host, account (a hash of
the credential) and model draws its send times from one pair of GCRA
schedules in Redis (requests, and tokens when a token rate is known): one
short Lua script claims the next send time atomically against Redis's own
clock and returns the wait, so processes and machines share one spacing
without trusting each other's clocks. Each process keeps its own rate
controller (its start, CUBIC, Little's law, the pauses); the rate it passes
with each claim is its view of the whole quota's rate, and every process
sees the same refusals.

Sync calls use ``redis.Redis``, async calls ``redis.asyncio.Redis``, so an
event loop never waits on a socket. Redis is asked with a 0.25 s timeout;
when it does not answer, the quota says so once in the log and the local
pacing takes over, trying Redis again every few seconds, so a call never
hangs on it. ``limits`` is not used: it has no GCRA and no way to claim a
future send time, which even spacing needs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .._closing import close_with_loop
from .._exceptions import ConfigurationError
from .._secret import fingerprint
from ._memory import REMEMBER_FOR, valid_rate

__all__ = ["PASSWORD_ENV", "QUOTA_URL_ENV", "RedisStore", "check_quota_url", "shared_store"]

log = logging.getLogger("cn_embeddings")

QUOTA_URL_ENV = "CN_EMBEDDINGS_QUOTA_URL"
PASSWORD_ENV = "CN_EMBEDDINGS_QUOTA_PASSWORD"  # noqa: S105 - a variable name
RETRY_REDIS_AFTER = 5.0  # seconds between attempts while Redis is unreachable
REDIS_TIMEOUT = 0.25  # seconds per Redis call
_SECRET_QUERY_KEYS = ("password", "pass", "pwd", "passwd", "secret", "token", "auth")

# GCRA (virtual scheduling) for one request: each schedule's next free time moves on by its
# interval; the request is due when both are free. Times are Redis's own clock, in seconds.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = now
for i = 1, 2 do
  local interval = tonumber(ARGV[i])
  if interval > 0 then
    local free = tonumber(redis.call('GET', KEYS[i]) or '0')
    if free < now then free = now end
    if free > due then due = free end
    redis.call('SET', KEYS[i], tostring(free + interval), 'PX', math.ceil((free + interval - now) * 1000) + 60000)
  end
end
return tostring(due - now)
"""


def check_quota_url(url: str) -> None:
    """A quota URL is ``redis://host:port/db`` (or ``rediss://``, ``unix://``) and holds no password
    in any part: it is configuration, serialized with the rest; the password comes from the
    environment."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(
            f"quota_url must be redis://host:port/db, rediss:// or unix://, not {parts.scheme or 'no scheme'}://"
        )
    secret_query = any(key.lower() in _SECRET_QUERY_KEYS for key, _ in parse_qsl(parts.query, keep_blank_values=True))
    if parts.password is not None or (parts.username and parts.scheme != "unix") or secret_query or parts.fragment:
        raise ConfigurationError(
            f"quota_url must not hold a password (it is saved with the configuration); set {PASSWORD_ENV} instead"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigurationError("quota_url has no host")


def where(url: str) -> str:
    """A Redis URL as logs and reprs show it: scheme, host, port and database, nothing else."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _connection_options(timeout: float) -> dict[str, Any]:
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if os.environ.get(PASSWORD_ENV):
        options["password"] = os.environ[PASSWORD_ENV]
    return options


_CLIENTS: dict[tuple[str, float, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def redis_client(url: str, timeout: float) -> Any:
    """The process's Redis client (one connection pool) for ``url`` with that timeout per call:
    the quota's stores and the cache share it."""
    import redis

    options = _connection_options(timeout)
    key = (url, timeout, fingerprint(str(options.get("password", ""))))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = redis.Redis.from_url(url, **options)
        return client


class RedisStore:
    """The shared GCRA schedules of one quota in Redis (see the module docstring)."""

    def __init__(self, url: str, key: tuple[Any, ...]) -> None:
        import redis
        import redis.asyncio

        name = "cn-embeddings:" + "/".join(str(part) for part in key)
        self._keys = [name + ":requests", name + ":tokens", name + ":remembered"]
        self._where = where(url)
        self._options = _connection_options(REDIS_TIMEOUT)
        self._url = url
        self._redis = redis_client(url, REDIS_TIMEOUT)
        self._script = self._redis.register_script(_RESERVE)
        self._async: dict[asyncio.AbstractEventLoop, tuple[Any, AsyncGenerator[None, None]]] = {}
        self._async_module = redis.asyncio
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._warned = False

    def __repr__(self) -> str:
        return f"RedisStore({self._where})"

    def recall(self) -> float | None:
        """A rate an earlier run learned for this quota and kept here (see ``_ratecontrol._memory``)."""
        if not self._up():
            return None
        try:
            value = self._redis.get(self._keys[2])
            rate = float(value) if value else None
        except ValueError:  # not a number: nothing remembered
            return None
        except Exception as error:  # noqa: BLE001 - any store failure: nothing remembered
            self._went_down(error)
            return None
        return rate if valid_rate(rate) else None

    def keep(self, rate: float) -> None:
        if not self._up():
            return
        try:
            self._redis.set(self._keys[2], repr(round(rate, 4)), ex=int(REMEMBER_FOR))
        except Exception as error:  # noqa: BLE001
            self._went_down(error)

    def reserve(self, interval: float, token_interval: float) -> float | None:
        if not self._up():
            return None
        try:
            return float(self._script(keys=self._keys[:2], args=[repr(interval), repr(token_interval)]))
        except Exception as error:  # noqa: BLE001 - any store failure: fall back, never hang
            self._went_down(error)
            return None

    async def areserve(self, interval: float, token_interval: float) -> float | None:
        if not self._up():
            return None
        try:
            script = await self._async_script()
            return float(
                await asyncio.wait_for(
                    script(keys=self._keys[:2], args=[repr(interval), repr(token_interval)]), REDIS_TIMEOUT * 2
                )
            )
        except Exception as error:  # noqa: BLE001
            self._went_down(error)
            return None

    async def _async_script(self) -> Any:
        """One async connection pool per event loop (an asyncio connection belongs to its loop),
        closed when that loop shuts down, as the clients' own connections are."""
        loop = asyncio.get_running_loop()
        with self._lock:
            for old in [lp for lp in self._async if lp.is_closed()]:
                del self._async[old]
            held = self._async.get(loop)
            fresh = held is None
            if held is None:
                client = self._async_module.Redis.from_url(self._url, **self._options)
                # the closer is held here: asyncio.run closes live async generators before the loop
                held = self._async[loop] = (client.register_script(_RESERVE), close_with_loop(client))
        if fresh:
            await held[1].asend(None)
        return held[0]

    def _up(self) -> bool:
        with self._lock:
            if self._down_until and time.monotonic() >= self._down_until:
                self._down_until = 0.0  # try Redis again; the next failure is not logged again
            return not self._down_until

    def _went_down(self, error: BaseException) -> None:
        with self._lock:
            first, self._warned = not self._warned, True
            self._down_until = time.monotonic() + RETRY_REDIS_AFTER
        if first:
            log.warning(
                "quota store %s unreachable (%s); this process keeps its own pacing until it is back",
                self._where,
                type(error).__name__,
            )


_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], RedisStore] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_store(url: str, key: tuple[Any, ...]) -> RedisStore:
    """The process-wide handle on one shared quota (one Redis connection pool per quota)."""
    with _SHARED_LOCK:
        store = _SHARED.get((url, key))
        if store is None:
            store = _SHARED[(url, key)] = RedisStore(url, key)
        return store
