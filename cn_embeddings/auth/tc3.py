"""TC3-HMAC-SHA256 request signing for Tencent Cloud API 3.0 (docs/wire-reference.md §1.3).

``sign_tc3`` is a pure function checked against the official SDK's vectors.
``TC3Auth`` is an ``httpx.Auth`` with ``requires_request_body = True``: it
hashes the exact bytes that go on the wire, and because the drivers pass it on
every ``send()``, each retry carries a fresh timestamp and signature. The
derived signing key depends only on the secret key and the UTC date, so it is
cached per day.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Generator
from datetime import datetime, timezone

import httpx

from .._secret import Secret

__all__ = ["TC3Auth", "sign_tc3"]

ALGORITHM = "TC3-HMAC-SHA256"
SIGNED_HEADERS = "content-type;host"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    """The credential-scope date: UTC, not Beijing time (vector v2 tests the boundary)."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")


def signing_key(secret_key: str, date: str, service: str) -> bytes:
    return _hmac(_hmac(_hmac(("TC3" + secret_key).encode("utf-8"), date), service), "tc3_request")


def canonical_request(body: bytes, content_type: str, host: str) -> str:
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = f"content-type:{content_type}\nhost:{host}\n"
    return f"POST\n/\n\n{headers}\n{SIGNED_HEADERS}\n{payload_hash}"


def string_to_sign(canonical: str, timestamp: int, scope: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def sign_tc3(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    content_type: str,
    body: bytes,
    timestamp: int,
    key: bytes | None = None,
) -> str:
    """The ``Authorization`` header value for one POST to ``/`` (pure; ``key`` may be pre-derived)."""
    date = utc_date(timestamp)
    scope = f"{date}/{service}/tc3_request"
    to_sign = string_to_sign(canonical_request(body, content_type, host), timestamp, scope)
    derived = key if key is not None else signing_key(secret_key, date, service)
    signature = hmac.new(derived, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"


class _DayKey:
    """The day's derived signing key: enough to sign that day's requests, so it never prints
    (``vars(auth)`` shows ``_DayKey(2026-11-22)``)."""

    __slots__ = ("date", "key")

    def __init__(self, date: str, key: bytes) -> None:
        self.date, self.key = date, key

    def __repr__(self) -> str:
        return f"_DayKey({self.date})"


class TC3Auth(httpx.Auth):
    """Signs each request when it is sent; sets X-TC-Timestamp and (with STS) X-TC-Token.

    ``clock`` (seconds since the epoch) may be replaced, as tests do to sign at a given time. The
    day's derived key is cached (``cached_key_date`` says for which day); ``clear_key_cache()``
    drops it, as a rotated secret key needs."""

    requires_request_body = True

    def __init__(
        self,
        secret_id: Secret,
        secret_key: Secret,
        token: Secret | None = None,
        *,
        service: str = "es",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._token = token
        self._service = service
        self.clock = clock
        self._key_cache: _DayKey | None = None

    @property
    def cached_key_date(self) -> str | None:
        """The UTC date (YYYY-MM-DD) whose signing key is cached, if any."""
        cached = self._key_cache
        return cached.date if cached is not None else None

    def clear_key_cache(self) -> None:
        self._key_cache = None

    def _key_for(self, date: str) -> bytes:
        cached = self._key_cache
        if cached is None or cached.date != date:
            cached = self._key_cache = _DayKey(date, signing_key(self._secret_key.get(), date, self._service))
        return cached.key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = int(self.clock())
        request.headers["X-TC-Timestamp"] = str(timestamp)
        if self._token is not None:
            request.headers["X-TC-Token"] = self._token.get()
        request.headers["Authorization"] = sign_tc3(
            secret_id=self._secret_id.get(),
            secret_key="",
            service=self._service,
            host=request.headers["Host"],
            content_type=request.headers["Content-Type"],
            body=request.content,
            timestamp=timestamp,
            key=self._key_for(utc_date(timestamp)),
        )
        yield request

    def secret_values(self) -> tuple[str, ...]:
        values = (self._secret_id.get(), self._secret_key.get())
        return values + ((self._token.get(),) if self._token is not None else ())

    def __repr__(self) -> str:
        return "TC3Auth(secret_id=**********, secret_key=**********)"
