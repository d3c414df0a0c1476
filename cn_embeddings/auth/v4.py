"""Volcengine V4 request signing (HMAC-SHA256), for VikingDB's rerank service.

``sign_v4`` is a pure function checked against the official ``volcengine`` SDK's
``SignerV4`` with the clock fixed. As that signer does, it signs ``Host``,
``Content-Type`` and every ``X-`` header (``X-Date``, ``X-Content-Sha256``, and
with STS ``X-Security-Token``), over the exact body bytes, in a credential scope
``date/region/service/request``. ``V4Auth`` re-signs on every send, so each
retry carries a fresh date.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Generator, Mapping
from datetime import datetime, timezone
from urllib.parse import quote

import httpx

from .._secret import Secret

__all__ = ["V4Auth", "sign_v4"]

ALGORITHM = "HMAC-SHA256"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _query(params: Mapping[str, str]) -> str:
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items()))


def sign_v4(
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    x_date: str,
) -> dict[str, str]:
    """The headers to add to one request: ``X-Date``, ``X-Content-Sha256`` and ``Authorization``
    (pure). ``headers`` are those already on the request, with their case as sent."""
    body_hash = hashlib.sha256(body).hexdigest()
    added = {"X-Date": x_date, "X-Content-Sha256": body_hash}
    signed = {
        name.lower(): value
        for name, value in {**headers, **added}.items()
        if name in ("Content-Type", "Content-Md5", "Host") or name.startswith("X-")
    }
    host = signed.get("host", "")
    if host.endswith((":80", ":443")):
        signed["host"] = host.rsplit(":", 1)[0]
    names = ";".join(sorted(signed))
    canonical = "\n".join(
        [
            method,
            quote(path or "/").replace("%2F", "/"),
            _query(query),
            "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)),
            names,
            body_hash,
        ]
    )
    scope = f"{x_date[:8]}/{region}/{service}/request"
    to_sign = "\n".join([ALGORITHM, x_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(secret_key.encode("utf-8"), x_date[:8]), region), service), "request")
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
    )
    return added


class V4Auth(httpx.Auth):
    """Signs each request when it is sent (AK/SK, and with STS a session token)."""

    requires_request_body = True

    def __init__(
        self,
        access_key: Secret,
        secret_key: Secret,
        token: Secret | None = None,
        *,
        region: str = "cn-north-1",
        service: str = "air",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._access_key, self._secret_key, self._token = access_key, secret_key, token
        self._region, self._service, self._clock = region, service, clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token is not None:
            request.headers["X-Security-Token"] = self._token.get()
        x_date = datetime.fromtimestamp(self._clock(), tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        headers = {name: request.headers[name] for name in ("Host", "Content-Type") if name in request.headers}
        headers.update(
            {name.title(): value for name, value in request.headers.items() if name.lower().startswith("x-")}
        )
        signed = sign_v4(
            access_key=self._access_key.get(),
            secret_key=self._secret_key.get(),
            region=self._region,
            service=self._service,
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params),
            headers=headers,
            body=request.content,
            x_date=x_date,
        )
        request.headers.update(signed)
        yield request

    def secret_values(self) -> tuple[str, ...]:
        values = (self._access_key.get(), self._secret_key.get())
        return values + ((self._token.get(),) if self._token is not None else ())

    def __repr__(self) -> str:
        return "V4Auth(access_key=**********, secret_key=**********)"
