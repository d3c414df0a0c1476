"""The emulator's HTTP server: routing, fault injection, quotas and a request log."""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from . import _handlers, _vectors
from ._faults import Faults
from ._handlers import Answer, Credentials
from ._quotas import QuotaRule, make_quota

if TYPE_CHECKING:
    from ..clients import VendorClient
    from ..rerankers import VendorRerankClient

ARK_PREFIX = "/api/v3"


SEEN_MAX = 10_000  # requests remembered
SEEN_BODY_MAX = 4 * 1024 * 1024  # larger bodies are logged by hash only
MAX_BODY = 128 * 1024 * 1024
HANDLER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Seen:
    """One request as the emulator saw it (no credentials are kept)."""

    vendor: str
    path: str
    model: str
    inputs: int
    status: int
    fault: str | None
    body_sha256: str
    body: Any
    ok: bool


class Emulator:
    """An offline emulator of Tencent Cloud ES, Qianfan v2 and Ark embeddings on 127.0.0.1.

    Use it as a context manager; point clients at ``tencent_url``,
    ``qianfan_url`` and ``ark_url`` with the fake credentials in ``credentials``::

        with Emulator() as emu:
            client = ArkClient(base_url=emu.ark_url, api_key=emu.credentials.ark_api_key)
    """

    def __init__(
        self,
        *,
        port: int = 0,
        faults: Faults | None = None,
        credentials: Credentials | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.faults = faults or Faults()
        self.credentials = credentials or Credentials()
        self.seen: deque[Seen] = deque(maxlen=SEEN_MAX)
        self._lock = threading.Lock()
        self._handling = 0  # requests read and not yet answered (``wait_idle``)
        self._idle = threading.Condition(self._lock)
        self._quotas: dict[tuple[str, str], tuple[QuotaRule, Any]] = {}
        self._server = _QuietServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on (127.0.0.1)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def tencent_url(self) -> str:
        return self.url

    @property
    def qianfan_url(self) -> str:
        return self.url + "/v2"

    @property
    def ark_url(self) -> str:
        return self.url + ARK_PREFIX

    def settings(self, vendor: str) -> dict[str, Any]:
        """Keyword arguments that point any of our classes (core, LangChain, LlamaIndex) here."""
        c = self.credentials
        if vendor == "tencent":
            token = {"token": c.session_token} if c.session_token is not None else {}
            return {"secret_id": c.secret_id, "secret_key": c.secret_key, "base_url": self.tencent_url, **token}
        if vendor == "qianfan":
            return {"api_key": c.qianfan_api_key, "base_url": self.qianfan_url}
        if vendor == "ark":
            return {"api_key": c.ark_api_key, "base_url": self.ark_url}
        if vendor == "tokenhub":
            return {"api_key": c.tokenhub_api_key, "base_url": self.url + "/v1"}
        if vendor == "volcengine":  # rerank (VikingDB)
            return {"access_key": c.volc_access_key, "secret_key": c.volc_secret_key, "base_url": self.url}
        raise ValueError(f"unknown vendor {vendor!r}; one of tencent, qianfan, ark, tokenhub, volcengine")

    def environment(self) -> dict[str, str]:
        """Environment variables that point every class built without arguments here: each
        vendor's credentials and base URL, under the names its declarations read
        (``os.environ.update(emu.environment())``)."""
        from ..vendors import ark, qianfan, rerank, tencent, tokenhub

        declared = {
            "tencent": (tencent.CREDENTIALS, tencent.BASE_URL_ENV),
            "qianfan": (qianfan.CREDENTIALS, qianfan.BASE_URL_ENV),
            "ark": (ark.CREDENTIALS, ark.BASE_URL_ENV),
            "tokenhub": (tokenhub.CREDENTIALS, tokenhub.BASE_URL_ENV),
            "volcengine": (rerank.VOLCENGINE_CREDENTIALS, rerank.VOLCENGINE_BASE_URL_ENV),
        }
        env = {}
        for vendor, (credentials, base_url_env) in declared.items():
            settings = self.settings(vendor)
            env[base_url_env] = settings["base_url"]
            env.update({c.env: settings[c.name] for c in credentials if settings.get(c.name) is not None})
        return env

    def client(self, vendor: str, model: str | None = None, **options: Any) -> VendorClient:
        """A core client of ``vendor`` pointed at this emulator with its credentials."""
        from ..clients import CLIENTS, DEFAULT_MODELS

        settings = self.settings(vendor)
        return CLIENTS[vendor](model or DEFAULT_MODELS[vendor], **{**settings, **options})

    def reranker(self, vendor: str, model: str | None = None, **options: Any) -> VendorRerankClient:
        """A core rerank client of ``vendor`` (tencent, qianfan, volcengine) pointed at this emulator."""
        from ..rerankers import RERANK_CLIENTS

        return RERANK_CLIENTS[vendor](model, **{**self.settings(vendor), **options})

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="cn-embeddings-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    # -- statistics -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the request log and the quota state."""
        with self._lock:
            self.seen.clear()
            self._quotas.clear()

    @property
    def requests(self) -> int:
        return len(self.seen)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every request read so far has been answered and logged (a test that checks
        what a client cut off on the wire waits for it this way, not for a guessed time); whether
        it got there within ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._handling == 0, timeout)

    def _handling_one(self, change: int) -> None:
        with self._idle:
            self._handling += change
            if not self._handling:
                self._idle.notify_all()

    def answered_twice(self) -> list[str]:
        """Body hashes that got a successful answer more than once (a batch sent again after success)."""
        counts = Counter(s.body_sha256 for s in self.seen if s.ok)
        return [h for h, n in counts.items() if n > 1]

    # -- request handling -------------------------------------------------------------------

    def _route(self, path: str, headers: dict[str, str]) -> tuple[str, Any] | None:
        if path == "/" and "x-tc-action" in headers:
            return "tencent", _handlers.tencent
        if path == "/v2/embeddings":
            return "qianfan", _handlers.qianfan
        if path == "/v1/embeddings":
            return "tokenhub", _handlers.tokenhub
        if path == "/v2/rerank":
            return "qianfan", _handlers.qianfan_rerank
        if path == "/api/knowledge/service/rerank":
            return "volcengine", _handlers.volcengine_rerank
        if path == ARK_PREFIX + "/embeddings/multimodal":
            return "ark", lambda c, h, b: _handlers.ark(c, h, b, multimodal=True)
        if path == ARK_PREFIX + "/embeddings":
            return "ark", lambda c, h, b: _handlers.ark(c, h, b, multimodal=False)
        return None

    def _admit(self, vendor: str, answer: Answer) -> Any | None:
        """The model's quota state when it admits this answer's request (None: no quota), or
        False when it refuses it."""
        rule = self.faults.quota
        if rule is None:
            return None
        with self._lock:
            held = self._quotas.get((vendor, answer.model))
            if held is None or held[0] != rule:  # the quota was changed: start afresh
                held = self._quotas[(vendor, answer.model)] = (rule, make_quota(rule))
        quota = held[1]
        return quota if quota.admit(time.monotonic(), _tokens(answer)) else False

    def _record(self, vendor: str, path: str, body: bytes, answer: Answer | None, fault: str | None) -> None:
        try:
            parsed = json.loads(body) if len(body) <= SEEN_BODY_MAX else None  # the log stays bounded
        except (ValueError, RecursionError):
            parsed = None
        model = answer.model if answer and answer.model else ""
        if not model and isinstance(parsed, dict):
            model = str(parsed.get("model") or parsed.get("ModelName") or "")
        ok = answer is not None and answer.status == 200 and _ok(answer)
        entry = Seen(
            vendor,
            path,
            model,
            answer.inputs if answer else 0,
            answer.status if answer else 0,
            fault,
            hashlib.sha256(body).hexdigest(),
            parsed,
            ok,
        )
        with self._lock:
            self.seen.append(entry)


_REFUSALS = {"tokens": "rate_limit_tokens", "inflight": "rate_limit_inflight"}
_REFUSALS.update({kind: "rate_limit" for kind in ("bucket", "moving", "fixed", "counting")})


def _tokens(answer: Answer) -> int:
    """The tokens an answer reports (what a token quota counts)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    usage = body.get("usage") or body.get("Response", {}).get("Usage") or {}
    return int(usage.get("total_tokens") or usage.get("TotalTokens") or 0) if isinstance(usage, dict) else 0


def _scale_usage(answer: Answer, scale: float) -> None:
    """Every token count of the answer's usage, times ``scale`` (``Faults.usage_scale``)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    usage = body.get("usage") or body.get("Response", {}).get("Usage")
    if isinstance(usage, dict):
        for name in ("prompt_tokens", "total_tokens", "TotalTokens"):
            if isinstance(usage.get(name), int):
                usage[name] = round(usage[name] * scale)


def _fault_answer(vendor: str, kind: str, retry_after: float | None) -> Answer:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if kind == "rate_limit_tokens" and vendor != "tencent":  # the vendors' own token-quota codes
        answer = (
            _handlers.qianfan_error(429, "tpm_rate_limit_exceeded", "Rate limit reached for TPM", "rate_limit_exceeded")
            if vendor == "qianfan"
            else _handlers.ark_error(
                429,
                "RateLimitExceeded.EndpointTPMExceeded",
                "TPM (Tokens Per Minute) limit reached.",
                "TooManyRequests",
            )
        )
        answer.headers.update(headers)
        return answer
    if kind == "rate_limit_overload" and vendor != "tencent":  # the vendor's own load, not the caller's quota
        answer = (
            _handlers.qianfan_error(429, "cluster_rate_limit_exceeded", "The service is busy", "rate_limit_exceeded")
            if vendor == "qianfan"
            else _handlers.ark_error(
                429, "ServerOverloaded", "The service is overloaded, please retry later.", "TooManyRequests"
            )
        )
        answer.headers.update(headers)
        return answer
    if kind == "rate_limit_inflight" and vendor == "ark":
        answer = _handlers.ark_error(
            429, "InflightBatchsizeExceeded", "Too many requests in flight.", "TooManyRequests"
        )
        answer.headers.update(headers)
        return answer
    if kind.startswith("rate_limit"):
        if vendor == "tencent":
            return _handlers.tencent_error("RequestLimitExceeded", "Your current request times equals to the limit")
        if vendor == "qianfan":
            answer = _handlers.qianfan_error(
                429, "rpm_rate_limit_exceeded", "Rate limit reached for RPM", "rate_limit_exceeded"
            )
        else:
            answer = _handlers.ark_error(
                429, "RateLimitExceeded.EndpointRPMExceeded", "Too many requests for this endpoint.", "TooManyRequests"
            )
        answer.headers.update(headers)
        return answer
    if kind == "server_error":
        if vendor == "tencent":
            return Answer(502, "<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
        if vendor == "qianfan":
            return _handlers.qianfan_error(500, "internal_error", "Internal error", "server_error")
        return _handlers.ark_error(
            500, "InternalServiceError", "The service encountered an error.", "InternalServerError"
        )
    if kind == "auth":
        if vendor == "tencent":
            return _handlers.tencent_error("AuthFailure.SecretIdNotFound", "The SecretId is not found")
        if vendor == "qianfan":
            return _handlers.qianfan_error(401, "invalid_iam_token", "IAM Certification failed", "access_denied")
        return _handlers.ark_error(401, "AuthenticationError", "The API key is invalid.", "Unauthorized")
    # quota: exhausted for good, never cleared by waiting
    if vendor == "tencent":
        return _handlers.tencent_error("LimitExceeded", "Quota exhausted")
    if vendor == "qianfan":
        return _handlers.qianfan_error(429, "quota_exceeded", "Quota exhausted", "rate_limit_exceeded")
    return _handlers.ark_error(429, "QuotaExceeded", "The quota of this account is exhausted.", "TooManyRequests")


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up is normal for a server; it gets no traceback on stderr.

    socketserver's listen backlog is 5: a client opening more connections at once than that
    (any pool of 16 threads) had the rest reset by the kernel, with no fault configured."""

    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError, socket.timeout)):
            sys.stderr.write(f"cn-embeddings emulator: {type(error).__name__}: {error}\n")


def _vendor_error(vendor: str, status: int, message: str) -> Answer:
    """A malformed request's answer in the vendor's own envelope."""
    if vendor == "tencent":
        return _handlers.tencent_error("InvalidParameter", message)
    if vendor == "qianfan":
        return _handlers.qianfan_error(status, "invalid_argument", message)
    return _handlers.ark_error(status, "InvalidParameter", message)


def _make_handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: without this, 40 ms ACK stalls
        timeout = HANDLER_TIMEOUT  # a half-open or silent connection is dropped, not kept forever

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            route = emulator._route(path, headers)
            if route is None:
                self._send(Answer(404, {"error": {"code": "not_found", "message": f"no route {path}"}}, {}))
                return
            vendor, handler = route
            raw_length = self.headers.get("Content-Length") or "0"
            if not raw_length.isdigit() or int(raw_length) > MAX_BODY:
                self.close_connection = True
                self._send(_vendor_error(vendor, 400, f"bad Content-Length {raw_length[:20]!r} (at most {MAX_BODY})"))
                return
            body = self.rfile.read(int(raw_length))
            if len(body) < int(raw_length):
                self.close_connection = True
                return
            emulator._handling_one(1)
            try:
                self._answer(vendor, handler, path, headers, body)
            finally:
                emulator._handling_one(-1)

        def _answer(self, vendor: str, handler: Any, path: str, headers: dict[str, str], body: bytes) -> None:
            faults = emulator.faults
            fault = faults.draw()
            if fault in ("drop", "stall"):
                emulator._record(vendor, path, body, None, fault)
                if fault == "stall":
                    time.sleep(faults.stall_seconds)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            admitted = None
            if fault is not None:
                overload = fault == "rate_limit" and faults.rate_limit_code == "overload"
                answer = _fault_answer(vendor, "rate_limit_overload" if overload else fault, faults.retry_after)
            else:
                try:
                    answer = handler(emulator.credentials, headers, body)
                except (RecursionError, TypeError, ValueError, AttributeError, KeyError) as error:
                    answer = _vendor_error(vendor, 400, f"malformed request ({type(error).__name__})")
            if faults.usage_scale != 1.0 and answer.status == 200:
                _scale_usage(answer, faults.usage_scale)
            wait = faults.latency()
            departure = faults.quota_admit == "departure"
            if fault is None and answer.status == 200 and _ok(answer):
                if departure:  # decided as the answer leaves, after the latency
                    time.sleep(wait)
                    wait = 0.0
                admitted = emulator._admit(vendor, answer)
                if admitted is False:
                    fault = "quota_" + faults.quota_kind
                    answer = _fault_answer(vendor, _REFUSALS[faults.quota_kind], faults.retry_after)
                    if not departure and faults.refuse_ms is not None:
                        wait = faults.refuse_ms / 1000  # a gateway refuses before the model runs
            answer.headers.update(faults.quota_headers())
            try:
                if wait:
                    time.sleep(wait)
                emulator._record(vendor, path, body, answer, fault)
                self._send(answer)
            finally:
                if admitted:
                    admitted.done()

        def _send(self, answer: Answer) -> None:
            payload = answer.body if isinstance(answer.body, (bytes, str)) else _vectors.dumps(answer.body)
            data = payload.encode("utf-8") if isinstance(payload, str) else payload
            self.send_response(answer.status)
            headers = {"Content-Type": "application/json", **answer.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:  # the client hung up
                self.close_connection = True

    return Handler


def _ok(answer: Answer) -> bool:
    body = answer.body
    return not (
        isinstance(body, dict) and ("error" in body or "Error" in body.get("Response", {}) or body.get("code", 0) != 0)
    )
