"""One request with retries, written once as a sans-I/O generator, and its two drivers.

``batch_flow`` yields :class:`Send` (a request to send) or :class:`Sleep`
(a delay) and returns the parsed :class:`BatchResult`. The sync driver runs
it with ``client.send`` and ``time.sleep``; the async driver with
``await client.send`` and ``asyncio.sleep``. That is the only retry layer:
each attempt rebuilds the request and the auth signs it afresh at send time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from ._deadline import attempt_deadline
from ._exceptions import APIConnectionError, APIError, APITimeoutError, CNEmbeddingsError, RateLimitError
from ._gate import Gate
from ._quota import SharedQuota
from ._ratelimit import RateLimiter
from ._retry import RetryPolicy
from ._secret import Redactor
from ._types import BatchResult

__all__ = ["Send", "Sleep", "batch_flow", "run_async", "run_sync"]

log = logging.getLogger("cn_embeddings")


@dataclass(frozen=True)
class Send:
    """Send ``request``; the answer must be complete within ``deadline`` seconds (None: no
    deadline) and inflate to at most MAX_RESPONSE_BYTES."""

    request: httpx.Request
    deadline: float | None = None


@dataclass(frozen=True)
class Sleep:
    seconds: float


Flow = Generator["Send | Sleep", "httpx.Response | None", BatchResult]


def batch_flow(
    build: Callable[[], httpx.Request],
    parse: Callable[[httpx.Response], BatchResult],
    policy: RetryPolicy,
    limiter: RateLimiter | SharedQuota,
    redactor: Redactor | None = None,
    deadline: float | None = None,
) -> Flow:
    """Send one batch until it succeeds, fails for good, or the retry budget is spent.

    ``redactor`` blanks credentials out of any error message (a vendor may echo a key back); it
    stands in for the credentials, so no frame of the request path holds one."""
    attempt = 0
    while True:
        wait = limiter.reserve()
        if wait > 0:
            yield Sleep(wait)
        while (wait := limiter.admit()) > 0:  # a quota shared with other processes
            yield Sleep(wait)
        request = build()
        try:
            response = yield Send(request, deadline)
            assert response is not None
            log.debug("%s %s -> %s (attempt %d)", request.method, request.url, response.status_code, attempt + 1)
            result = parse(response)
        except (APIError, APIConnectionError) as error:
            if isinstance(error, RateLimitError) and error.retryable:
                limiter.record(throttled=True, overload=error.overload)
            delay = policy.wait(attempt, error)
            if delay is None:
                error.attempts = attempt + 1
                raise error.redact(redactor) from None
            log.info("retrying after %s (attempt %d, waiting %.2fs)", _describe(error), attempt + 1, delay)
            attempt += 1
            yield Sleep(delay)
            continue
        limiter.record(throttled=False, tokens=result.usage.total_tokens)
        result.usage.requests = attempt + 1
        result.usage.retries = attempt
        return result


# Far above any legitimate answer (Ark's 2048 float32 per input; a 128k-token multi-vector
# matrix travels zstd-compressed), far below what a hostile gzip bomb would inflate to.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024


class _Body:
    """Collects a streamed answer, holding it to the attempt's deadline and size cap."""

    def __init__(self, send: Send, vendor: str) -> None:
        self.send, self.vendor = send, vendor
        self.expires = time.monotonic() + send.deadline if send.deadline else None
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > MAX_RESPONSE_BYTES:
            raise APIError(vendor=self.vendor, code="response_too_large", retryable=False,
                           message=f"the answer inflates beyond {MAX_RESPONSE_BYTES} bytes; refused")
        if self.expires is not None and time.monotonic() > self.expires:
            raise APITimeoutError(self.vendor, f"the answer took longer than the {self.send.deadline:g} s timeout")

    def response(self, streamed: httpx.Response) -> httpx.Response:
        """The collected answer as an ordinary, already decoded response."""
        headers = [(k, v) for k, v in streamed.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(streamed.status_code, headers=headers, content=bytes(self.data),
                              request=streamed.request)


def _describe(error: Exception) -> str:
    code = getattr(error, "code", None)
    return f"{type(error).__name__} {code}" if code else type(error).__name__


def _connection_error(exc: httpx.HTTPError, vendor: str, deadline: float | None = None,
                      started: float = 0.0) -> APIConnectionError:
    """The typed error for a transport failure; a timeout at the attempt's deadline says so."""
    if isinstance(exc, httpx.TimeoutException) and deadline and time.monotonic() - started >= deadline * 0.99:
        return APITimeoutError(vendor, f"no complete answer within the {deadline:g} s timeout")
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(vendor, f"request timed out ({type(exc).__name__})")
    return APIConnectionError(vendor, f"connection error ({type(exc).__name__}: {exc})")


DRAIN_CHECK = 0.1  # seconds between looks at a drain event during a wait


def stopped(stop: threading.Event | None, drain: threading.Event | None = None) -> bool:
    """Whether a call must start nothing more: stopped (Ctrl-C, a failed batch) or drained."""
    return stop is not None and stop.is_set() or drain is not None and drain.is_set()


def _pause(seconds: float, stop: threading.Event | None, drain: threading.Event | None = None) -> None:
    """Sleep, ending at once when the call is stopped, and within DRAIN_CHECK when it is drained
    (one event can be waited on, the other is looked at between slices)."""
    end = time.monotonic() + seconds
    while not stopped(stop, drain) and (left := end - time.monotonic()) > 0:
        wait = left if drain is None else min(left, DRAIN_CHECK)
        if stop is not None:
            stop.wait(wait)
        else:
            time.sleep(wait)


class Stopped(CNEmbeddingsError):
    """The call was stopped (Ctrl-C or a failed batch elsewhere) before this batch finished."""


def run_sync(flow: Flow, client: httpx.Client, auth: httpx.Auth, vendor: str,
             gate: Gate, stop: threading.Event | None = None, drain: threading.Event | None = None) -> BatchResult:
    """Drive a flow with blocking I/O; ``gate`` bounds the requests in flight on the client.

    The deadline covers the whole attempt on the connections the client opens itself (see
    ``_deadline``); with a user's ``http_client`` it is checked as the body arrives, and the
    header phase is bounded by its per-read timeout only. When ``stop`` is
    set (Ctrl-C, or another batch failed), waits end at once and no further attempt is made. A
    batch that fails for good sets ``stop`` before it gives back its place in flight, so a batch
    waiting for that place is never sent. ``drain`` is the gentler stop: the attempt on the wire
    runs to its answer (a paid vector is kept), then no wait, retry or new attempt follows."""
    step = next(flow)
    while True:
        try:
            _end_if_stopped(flow, stop, vendor, drain)  # no new attempt, no retry once the call stops
            if isinstance(step, Sleep):
                _pause(step.seconds, stop, drain)
                step = flow.send(None)
                continue
            with gate:
                _end_if_stopped(flow, stop, vendor, drain)  # stopped while waiting for a place
                started = time.monotonic()
                try:
                    with attempt_deadline(step.deadline, stop):
                        streamed = client.send(step.request, auth=auth, stream=True)
                        try:
                            body = _Body(step, vendor)
                            for chunk in streamed.iter_bytes():
                                body.add(chunk)
                        finally:
                            streamed.close()
                    outcome: httpx.Response | CNEmbeddingsError = body.response(streamed)
                except httpx.HTTPError as exc:
                    outcome = _connection_error(exc, vendor, step.deadline, started)
                except CNEmbeddingsError as error:
                    outcome = error
                step = _advance(flow, outcome, stop)
        except StopIteration as stop_iteration:
            return stop_iteration.value


def _end_if_stopped(flow: Flow, stop: threading.Event | None, vendor: str,
                    drain: threading.Event | None = None) -> None:
    if stopped(stop, drain):
        flow.close()
        raise Stopped(f"{vendor}: the call was stopped")


def _advance(flow: Flow, outcome: httpx.Response | CNEmbeddingsError,
             stop: threading.Event | None) -> Send | Sleep:
    """Hand an answer (or a failure) to the flow; a failure for good sets ``stop`` at once."""
    try:
        return flow.send(outcome) if isinstance(outcome, httpx.Response) else flow.throw(outcome)
    except CNEmbeddingsError:
        if stop is not None:
            stop.set()
        raise


async def _fetch(client: httpx.AsyncClient, send: Send, auth: httpx.Auth, vendor: str) -> httpx.Response:
    streamed = await client.send(send.request, auth=auth, stream=True)
    try:
        body = _Body(send, vendor)
        async for chunk in streamed.aiter_bytes():
            body.add(chunk)
    finally:
        await streamed.aclose()
    return body.response(streamed)


async def run_async(flow: Flow, client: httpx.AsyncClient, auth: httpx.Auth, vendor: str,
                    gate: Gate, stop: threading.Event | None = None) -> BatchResult:
    """Drive the same flow with asyncio; the deadline covers the whole attempt, headers included."""
    step = next(flow)
    while True:
        try:
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                step = flow.send(None)
                continue
            async with gate:
                _end_if_stopped(flow, stop, vendor)  # another batch failed while this one waited
                try:
                    outcome: httpx.Response | CNEmbeddingsError = await asyncio.wait_for(
                        _fetch(client, step, auth, vendor), step.deadline)
                except asyncio.TimeoutError:
                    outcome = APITimeoutError(vendor, f"no complete answer within the {step.deadline:g} s timeout")
                except httpx.HTTPError as exc:
                    outcome = _connection_error(exc, vendor)
                except CNEmbeddingsError as error:
                    outcome = error
                step = _advance(flow, outcome, stop)
        except StopIteration as stop_iteration:
            return stop_iteration.value
