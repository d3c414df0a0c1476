"""One request with retries, written once as a sans-I/O generator, and its two drivers.

``batch_flow`` yields :class:`Send` (a request to send) or :class:`Sleep`
(a delay) and returns the parsed :class:`BatchResult`; it never touches a
socket, a clock it was not given, or the rate controller. The drivers do
only what needs I/O: before each attempt they take a slot from the
:class:`~cn_embeddings._ratecontrol.RateController`, send through one
:class:`Sender`, hand the answer to the flow, and settle the slot with what
the flow made of it. ``run_sync`` and ``run_async`` are that loop with
blocking and with awaited I/O. One :class:`Cancel` token stops a call:
``set()`` drains it (attempts on the wire run to their answer, nothing new
starts, no wait or retry follows), ``stop()`` also ends the reads on the wire
within a slice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

import httpx

from . import _telemetry as telemetry
from ._deadline import attempt_deadline
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    BatchFailed,
    CNEmbeddingsError,
    RateLimitError,
    Stopped,
)
from ._ratecontrol import WAKE_SLICE, Outcome, RateController, Slot, told_quota
from ._retry import QUOTA_PATIENCE, RetryPolicy
from ._secret import Redactor
from ._telemetry import Attempt, Labels
from ._types import Answer

__all__ = ["Cancel", "Send", "Sender", "Sleep", "Stopped", "batch_flow", "run_async", "run_sync"]

log = logging.getLogger("cn_embeddings")

SLOT_PATIENCE = QUOTA_PATIENCE  # seconds an attempt may wait for its turn to send (pacing, places in flight)
REDACT_BELOW = 64 * 1024  # answers this small are searched for an echoed credential; an error is cut to it
# Far above any legitimate answer (Ark's 2048 float32 per input; a 128k-token multi-vector
# matrix travels zstd-compressed), far below what a hostile gzip bomb would inflate to.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
INFLATE_STEP = 1024 * 1024  # bytes a compressed answer is inflated by at a time, the cap checked after each
# What the requests say they accept: what is inflated here in bounded steps (zlib's max_length)
ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True)
class Send:
    """Send the request ``build`` makes; the answer must be complete within ``deadline`` seconds
    (None: no deadline) and inflate to at most MAX_RESPONSE_BYTES. ``cost``: the tokens it is
    expected to use, for the token pacing. The request is built only once the attempt's turn to
    send has come, so a batch waiting for its turn holds no request, and each attempt is fresh."""

    build: Callable[[], httpx.Request]
    deadline: float | None = None
    cost: float = 0.0


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds``; ``after`` is the failure being retried, if any."""

    seconds: float
    after: CNEmbeddingsError | None = None


R = TypeVar("R", bound=Answer)
# A flow yields sends and sleeps, is sent the answers, and returns the parsed answer.
Flow = Generator["Send | Sleep", "httpx.Response | None", R]


class Cancel(threading.Event):
    """The stop of one call. Set (``set()``, a drain): nothing new is sent, no wait or retry
    follows, and attempts on the wire run to their answer. ``stop()`` also sets ``hard``, which
    ends the blocking reads on the wire within a slice (Ctrl-C)."""

    def __init__(self) -> None:
        super().__init__()
        self.hard = threading.Event()

    def stop(self) -> None:
        self.hard.set()
        self.set()


def batch_flow(
    build: Callable[[], httpx.Request],
    parse: Callable[[httpx.Response], R],
    policy: RetryPolicy,
    redactor: Redactor | None = None,
    deadline: float | None = None,
    cost: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    controlled: bool = True,
) -> Flow[R]:
    """Send one batch until it succeeds, fails for good, or the retry budget is spent.

    When the rate is ``controlled``, refusals for quota (a retryable RateLimitError that is not
    about the vendor's own load) do not spend ``max_retries`` while they have lasted less than
    the patience of :meth:`RetryPolicy.wait`: the rate controller is lowering the rate
    meanwhile. ``redactor`` blanks credentials out of any error message (a vendor may echo a
    key back)."""
    attempt = 0
    refused_since: float | None = None
    while True:
        try:
            response = yield Send(build, deadline, cost)
            assert response is not None
            result = parse(response)
        except (APIError, APIConnectionError) as error:
            quota = controlled and isinstance(error, RateLimitError) and error.limit != "overload"
            refused_since = (refused_since if refused_since is not None else clock()) if quota else None
            throttled_for = clock() - refused_since if refused_since is not None else None
            decision = policy.decide(attempt, error, throttled_for=throttled_for, deadline=deadline)
            if decision.delay is None:
                raise BatchFailed(error.redact(redactor), attempt + 1, decision.note) from None
            attempt += 1
            yield Sleep(decision.delay, error)
            continue
        result.usage.requests = attempt + 1
        result.usage.retries = attempt
        return result


def _describe(error: BaseException) -> str:
    code = getattr(error, "code", None)
    return f"{type(error).__name__} {code}" if code else type(error).__name__


# -- sending one attempt -------------------------------------------------------------------------


class _Body:
    """Collects a streamed answer, holding it to the attempt's deadline and size cap.

    The raw bytes are read and inflated here, INFLATE_STEP at a time, so an answer is refused
    once it passes the cap however it arrives: a decoder that is handed a whole compressed body
    (a transport that gives it in one piece) would inflate all of it before any check."""

    def __init__(self, send: Send, vendor: str, encoding: str = "") -> None:
        self.send, self.vendor = send, vendor
        self.expires = time.monotonic() + send.deadline if send.deadline else None
        self.data = bytearray()
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip().lower() not in ("", "identity")]
        if len(codings) > 1 or codings and codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise APIError(
                vendor=vendor,
                code="unsupported_encoding",
                retryable=False,
                message=f"the answer is encoded as {encoding!r}, which was not asked for "
                f"(Accept-Encoding: {ACCEPT_ENCODING})",
            )
        # gzip, or deflate in its zlib wrapping: the header tells which (wbits 32 + MAX_WBITS)
        self.inflater = zlib.decompressobj(32 + zlib.MAX_WBITS) if codings else None

    def add_raw(self, chunk: bytes) -> None:
        """Bytes as they came off the wire, inflated in bounded steps."""
        if self.inflater is None:
            self.add(chunk)
            return
        try:
            while chunk:
                self.add(self.inflater.decompress(chunk, INFLATE_STEP))
                chunk = self.inflater.unconsumed_tail
        except zlib.error as error:
            raise APIError(
                vendor=self.vendor,
                code="malformed_response",
                retryable=True,
                message=f"the compressed answer is broken ({error})",
            ) from None

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > MAX_RESPONSE_BYTES:
            raise APIError(
                vendor=self.vendor,
                code="response_too_large",
                retryable=False,
                message=f"the answer inflates beyond {MAX_RESPONSE_BYTES} bytes; refused",
            )
        if self.expires is not None and time.monotonic() > self.expires:
            raise APITimeoutError(self.vendor, f"no complete answer within the {self.send.deadline:g} s timeout")

    def response(self, streamed: httpx.Response, redactor: Redactor | None) -> httpx.Response:
        """The collected answer as an ordinary, already decoded response, with any credential the
        server echoed blanked out before any other code sees it."""
        content = bytes(self.data)
        self.data = bytearray()
        if streamed.status_code >= 400:  # an error's body reaches messages, spans and logs: kept bounded
            content = content[:REDACT_BELOW]
        if redactor and len(content) <= REDACT_BELOW:  # a larger success holds vectors, never an error text
            content = redactor.redact(content.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        error = streamed.status_code >= 400
        headers = [  # untrusted too: an error's headers, or a request id, may echo the key
            (k, redactor.redact(v) if redactor and (error or "request" in k.lower()) else v)
            for k, v in streamed.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(streamed.status_code, headers=headers, content=content, request=streamed.request)


def _encoding(streamed: httpx.Response) -> str:
    """The Content-Encoding left to undo: none when the transport handed over a response it had
    already read (httpx inflated it then, whole: a transport that builds responses with
    ``content=`` rather than a stream cannot be held to the cap while inflating)."""
    return "" if streamed.is_stream_consumed else streamed.headers.get("content-encoding", "")


def _connection_error(exc: httpx.HTTPError, vendor: str, deadline: float | None = None) -> APIConnectionError:
    """The typed error for a transport failure. Whichever of the timers set from the attempt's
    timeout fires first (httpx's, the deadline's, the body's), a timeout says the same thing."""
    if isinstance(exc, httpx.TimeoutException) and deadline:
        return APITimeoutError(vendor, f"no complete answer within the {deadline:g} s timeout ({type(exc).__name__})")
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(vendor, f"request timed out ({type(exc).__name__})")
    return APIConnectionError(vendor, f"connection error ({type(exc).__name__}: {exc})")


class Sender:
    """Sends one attempt on one httpx client (sync or async) and reads its whole answer.

    The answer is read as a stream, held to the attempt's deadline and to MAX_RESPONSE_BYTES,
    and handed back as a response, or as the typed error of a transport failure: nothing
    escapes but those. A sync attempt runs under :func:`attempt_deadline`, so on the
    connections the client opens itself the whole attempt (headers included) keeps the
    deadline and a hard stop ends its reads within a slice; with a user's ``http_client`` the
    deadline is checked as the body arrives. An async attempt is held to the deadline as a whole.
    ``labels`` name the caller in logs, spans and metrics."""

    def __init__(
        self,
        client: httpx.Client | httpx.AsyncClient,
        auth: httpx.Auth,
        labels: Labels,
        redactor: Redactor | None = None,
    ) -> None:
        self.client, self.auth, self.labels, self.redactor = client, auth, labels, redactor
        self.vendor = labels.vendor

    def send(self, step: Send, cancel: Cancel | None = None) -> httpx.Response | CNEmbeddingsError:
        assert isinstance(self.client, httpx.Client)
        try:
            with attempt_deadline(step.deadline, cancel.hard if cancel is not None else None):
                streamed = self.client.send(step.build(), auth=self.auth, stream=True)
                try:
                    body = _Body(step, self.vendor, _encoding(streamed))
                    for chunk in streamed.iter_bytes() if streamed.is_stream_consumed else streamed.iter_raw():
                        body.add_raw(chunk)
                finally:
                    chunk = b""
                    streamed.close()
            return body.response(streamed, self.redactor)
        except httpx.HTTPError as exc:
            return _connection_error(exc, self.vendor, step.deadline)
        except CNEmbeddingsError as error:
            return error

    async def asend(self, step: Send) -> httpx.Response | CNEmbeddingsError:
        assert isinstance(self.client, httpx.AsyncClient)
        try:
            return await asyncio.wait_for(self._fetch(step), step.deadline)
        except asyncio.TimeoutError:
            return APITimeoutError(self.vendor, f"no complete answer within the {step.deadline:g} s timeout")
        except httpx.HTTPError as exc:
            return _connection_error(exc, self.vendor, step.deadline)
        except CNEmbeddingsError as error:
            return error

    async def _fetch(self, step: Send) -> httpx.Response:
        assert isinstance(self.client, httpx.AsyncClient)
        streamed = await self.client.send(step.build(), auth=self.auth, stream=True)
        try:
            body = _Body(step, self.vendor, _encoding(streamed))
            async for chunk in streamed.aiter_bytes() if streamed.is_stream_consumed else streamed.aiter_raw():
                body.add_raw(chunk)
        finally:
            chunk = b""  # noqa: F841 - no frame keeps a piece of the answer
            await streamed.aclose()
        return body.response(streamed, self.redactor)


# -- the two drivers -----------------------------------------------------------------------------


def _advance(
    flow: Flow[R],
    slot: Slot,
    outcome: httpx.Response | CNEmbeddingsError,
    attempt: Attempt,
    labels: Labels,
    cancel: Cancel,
) -> Send | Sleep:
    """Hand an answer (or a failure) to the flow, and settle the slot with what the flow made of
    it: accepted, refused for quota (which bound), or failed. A quota the answer's headers tell
    reaches the controller first. Whatever escapes, the slot is settled and the attempt recorded;
    a batch that failed for good drains the call before its place is given back, so that no other
    batch of the call takes it."""
    status = outcome.status_code if isinstance(outcome, httpx.Response) else None
    # the answer's id, for the attempt's span only (a failure carries its own)
    traced = attempt.otel is not None and isinstance(outcome, httpx.Response)
    said = outcome.headers.get("x-request-id") if traced else None  # type: ignore[union-attr]
    try:
        if isinstance(outcome, httpx.Response) and (told := told_quota(outcome.headers)) is not None:
            slot.controller.tell(told, slot.controller.clock())
        step = flow.send(outcome) if isinstance(outcome, httpx.Response) else flow.throw(outcome)
    except StopIteration as done:
        slot.settle(Outcome.ACCEPTED, done.value.usage.total_tokens)
        attempt.answered(status, said or getattr(done.value, "request_id", None), None)
        raise
    except BaseException as error:
        if isinstance(error, BatchFailed):
            cancel.set()
        _settle_failure(slot, error, labels)
        failure = error.error if isinstance(error, BatchFailed) else error
        attempt.answered(status, said or getattr(failure, "request_id", None), failure)
        raise
    retried = step.after if isinstance(step, Sleep) else None
    _settle_failure(slot, retried, labels)
    attempt.answered(status, said or getattr(retried, "request_id", None), retried)
    if isinstance(step, Sleep) and retried is not None:
        telemetry.record(labels, retried=type(retried).__name__)
        log.debug(
            "%s %s: retrying after %s in %.2f s (attempt %d failed; request id %s)",
            labels.vendor, labels.model, _describe(retried), step.seconds, attempt.number,
            said or getattr(retried, "request_id", None) or "none",
        )  # fmt: skip
    return step


def _settle_failure(slot: Slot, error: BaseException | None, labels: Labels) -> None:
    refused = error.error if isinstance(error, BatchFailed) else error
    if isinstance(refused, RateLimitError) and refused.retryable:
        telemetry.record(labels, refused=refused.limit or "requests")
    if isinstance(error, RateLimitError) and error.retryable:
        slot.settle(Outcome.refusal(error.limit), retry_after=error.retry_after)
    else:
        slot.settle(Outcome.FAILED)


def _end(flow: Flow[R], vendor: str) -> Stopped:
    flow.close()
    return Stopped(f"{vendor}: the call was stopped")


def run_sync(flow: Flow[R], sender: Sender, controller: RateController, cancel: Cancel) -> R:
    """Drive a flow with blocking I/O, in a worker thread (never the caller's: see ``_batching``)."""
    step = next(flow)
    tries = 0  # attempts sent
    try:
        while True:
            if cancel.is_set():
                raise _end(flow, sender.vendor)
            if isinstance(step, Sleep):
                cancel.wait(step.seconds)
                step = flow.send(None)
                continue
            asked = time.monotonic()
            try:
                slot = controller.acquire(step.cost, cancel, SLOT_PATIENCE, lease=step.deadline)
            except Stopped:
                raise _end(flow, sender.vendor) from None
            except CNEmbeddingsError as late:  # no turn within the timeout
                step = flow.throw(late)
                continue
            tries += 1
            attempt = telemetry.attempt(sender.labels, tries, time.monotonic() - asked)
            try:
                outcome = sender.send(step, cancel)
            except BaseException as error:  # the request could not be built, or an interrupt: the slot is settled
                slot.settle(Outcome.FAILED)
                attempt.answered(None, None, error)
                raise
            step = _advance(flow, slot, outcome, attempt, sender.labels, cancel)
    except StopIteration as done:
        answer: R = done.value
        return answer


async def run_async(flow: Flow[R], sender: Sender, controller: RateController, cancel: Cancel) -> R:
    """Drive the same flow with asyncio; a task cancelled mid-attempt settles its slot as failed."""
    step = next(flow)
    tries = 0
    try:
        while True:
            if cancel.is_set():
                raise _end(flow, sender.vendor)
            if isinstance(step, Sleep):
                await _asleep(step.seconds, cancel)
                step = flow.send(None)
                continue
            asked = time.monotonic()
            try:
                slot = await controller.aacquire(step.cost, cancel, SLOT_PATIENCE, lease=step.deadline)
            except Stopped:
                raise _end(flow, sender.vendor) from None
            except CNEmbeddingsError as late:
                step = flow.throw(late)
                continue
            tries += 1
            attempt = telemetry.attempt(sender.labels, tries, time.monotonic() - asked)
            try:
                outcome = await sender.asend(step)
            except BaseException as error:  # cancelled, or the request could not be built: the slot is settled
                slot.settle(Outcome.FAILED)
                attempt.answered(None, None, error)
                raise
            step = _advance(flow, slot, outcome, attempt, sender.labels, cancel)
    except StopIteration as done:
        answer: R = done.value
        return answer


async def _asleep(seconds: float, cancel: Cancel) -> None:
    """Sleep, ending within WAKE_SLICE once the call is cancelled (a threading event cannot be awaited)."""
    end = time.monotonic() + seconds
    while not cancel.is_set() and (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(left, WAKE_SLICE))
