"""A deadline for a whole blocking attempt: connect, headers and body, not each read.

A blocking socket read cannot be interrupted from its own thread, and httpx's
``timeout`` applies to each read, so a server that drips its headers one byte
at a time keeps a sync request alive indefinitely, and Ctrl-C waits for every
request on the wire. The connections the client opens itself therefore go
through a network backend whose streams shrink every read, write and connect
timeout to the time left before the attempt's deadline, fail with a read
timeout once it has passed, and wait for the server in slices of 0.25 s, so a
stopped call's reads end within one slice (the connection is then closed). The deadline is set
per thread by :func:`attempt_deadline` around each attempt; outside one (a
user's own requests on the same pool) the streams behave as usual.

httpx does not take a network backend, so the transport builds its own pool with
httpcore's public ``ConnectionPool(network_backend=...)``, as httpx's own transport
does, and converts requests and answers as httpx does. httpx ignores proxy variables for a
client given its own transport, so when the environment names a proxy the
client keeps httpx's transport (and its proxies) instead.
"""

from __future__ import annotations

import contextlib
import threading
import time
import typing
import urllib.request
from collections.abc import Iterator

import httpcore
import httpx

__all__ = ["attempt_deadline", "deadline_transport", "environment_proxies"]

_local = threading.local()


SLICE = 0.25  # seconds: how often a read waiting for the server looks at the call's stop event


@contextlib.contextmanager
def attempt_deadline(seconds: float | None, stop: threading.Event | None = None) -> Iterator[None]:
    """Hold the blocking I/O of this thread to ``seconds`` from now (None: no deadline), and end
    it within ``SLICE`` seconds once ``stop`` is set (Ctrl-C, or another batch failed)."""
    _local.expires = time.monotonic() + seconds if seconds else None
    _local.stop = stop
    try:
        yield
    finally:
        _local.expires = _local.stop = None


def _left(timeout: float | None, started: float | None = None) -> float | None:
    """The time this operation may still take: its own timeout (counted from ``started``) and
    the attempt's deadline, whichever is sooner; a read timeout once either has passed."""
    now = time.monotonic()
    if timeout is not None and started is not None:
        timeout -= now - started
        if timeout <= 0:
            raise httpcore.ReadTimeout("timed out")
    expires: float | None = getattr(_local, "expires", None)
    if expires is None:
        return timeout
    left = expires - now
    if left <= 0:
        raise httpcore.ReadTimeout("the attempt's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        started = time.monotonic()
        while True:
            wait = _left(timeout, started)
            stop = getattr(_local, "stop", None)
            sliced = wait if stop is None else min(wait if wait is not None else SLICE, SLICE)
            try:
                return self.inner.read(max_bytes, sliced)
            except httpcore.ReadTimeout:
                if stop is not None and stop.is_set():
                    raise httpcore.ReadTimeout("the call was stopped") from None
                if sliced == wait:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _left(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: typing.Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self.inner.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self.inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self.inner.connect_tcp(host, port, _left(timeout), local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[typing.Any] | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self.inner.connect_unix_socket(path, _left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def environment_proxies() -> bool:
    """Whether HTTP(S)_PROXY or ALL_PROXY is set (the variables httpx would honour)."""
    return any(key in ("http", "https", "all") for key in urllib.request.getproxies())


def _mapped(exc: Exception) -> Exception:
    """httpx's exception of the same name as an httpcore one (the mapping httpx itself makes)."""
    for cls in type(exc).__mro__:
        twin = getattr(httpx, cls.__name__, None)
        if isinstance(twin, type) and issubclass(twin, httpx.HTTPError):
            return twin(str(exc))
    return exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: typing.Iterable[bytes]) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.stream
        except Exception as exc:  # noqa: BLE001 - httpcore's errors become httpx's
            mapped = _mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


_HTTPX_OWN = httpx.HTTPTransport.handle_request


def _is_httpx_own(method: typing.Any) -> bool:
    """Whether ``method`` is httpx's own ``HTTPTransport.handle_request``, not one put in its place
    by a recorder or a mock (vcrpy, pytest-httpx), which may wrap it with the same name."""
    return method is _HTTPX_OWN and not hasattr(method, "__wrapped__")


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport settings (no proxy, HTTP/1.1, certificates verified), with connections
    opened through the deadline-keeping backend, in a pool built through httpcore's public API.

    While a recorder or a mock has replaced ``httpx.HTTPTransport.handle_request`` (vcrpy
    cassettes, pytest-httpx), requests go to it, as they would with httpx's own transport."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self.pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not _is_httpx_own(httpx.HTTPTransport.handle_request):
            return httpx.HTTPTransport.handle_request(self, request)
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = self.pool.handle_request(core)
        except Exception as exc:  # noqa: BLE001 - httpcore's errors become httpx's
            mapped = _mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        assert isinstance(answer.stream, typing.Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_ResponseStream(answer.stream),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self.pool.close()
        super().close()


def deadline_transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """The transport of the sync connections a client opens itself: see :class:`DeadlineTransport`."""
    return DeadlineTransport(limits)
