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

from ._exceptions import APIConnectionError, APIError, APITimeoutError, RateLimitError
from ._quota import SharedQuota
from ._ratelimit import RateLimiter
from ._retry import RetryPolicy
from ._secret import Redactor
from ._types import BatchResult

__all__ = ["Send", "Sleep", "batch_flow", "run_async", "run_sync"]

log = logging.getLogger("cn_embeddings")


@dataclass(frozen=True)
class Send:
    request: httpx.Request


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
            response = yield Send(request)
            assert response is not None
            log.debug("%s %s -> %s (attempt %d)", request.method, request.url, response.status_code, attempt + 1)
            result = parse(response)
        except (APIError, APIConnectionError) as error:
            if isinstance(error, RateLimitError) and error.retryable:
                limiter.record(throttled=True)
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


def _describe(error: Exception) -> str:
    code = getattr(error, "code", None)
    return f"{type(error).__name__} {code}" if code else type(error).__name__


def _connection_error(exc: httpx.HTTPError, vendor: str) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(vendor, f"request timed out ({type(exc).__name__})")
    return APIConnectionError(vendor, f"connection error ({type(exc).__name__}: {exc})")


def run_sync(flow: Flow, client: httpx.Client, auth: httpx.Auth, vendor: str,
             gate: threading.Semaphore) -> BatchResult:
    """Drive a flow with blocking I/O; ``gate`` bounds the requests in flight on the client."""
    step = next(flow)
    while True:
        try:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                with gate:
                    response = client.send(step.request, auth=auth)
            except httpx.HTTPError as exc:
                failure = _connection_error(exc, vendor)
            else:
                step = flow.send(response)
                continue
            step = flow.throw(failure)
        except StopIteration as stop:
            return stop.value


async def run_async(flow: Flow, client: httpx.AsyncClient, auth: httpx.Auth, vendor: str,
                    gate: asyncio.Semaphore) -> BatchResult:
    """Drive the same flow with asyncio."""
    step = next(flow)
    while True:
        try:
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                async with gate:
                    response = await client.send(step.request, auth=auth)
            except httpx.HTTPError as exc:
                failure = _connection_error(exc, vendor)
            else:
                step = flow.send(response)
                continue
            step = flow.throw(failure)
        except StopIteration as stop:
            return stop.value
