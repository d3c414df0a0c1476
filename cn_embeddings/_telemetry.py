"""OpenTelemetry traces and metrics of calls, attempts and bulk jobs; nothing at all without the API.

What is recorded follows the OpenTelemetry GenAI semantic conventions (their
status is still "Development"): a span per call named ``embeddings {model}``
(``rerank {model}`` for the rerankers: rerank is not in the conventions yet),
a child span per HTTP attempt, the ``gen_ai.client.*`` histograms, and the
project's own quota metrics under ``cn_embeddings.*``. The tables in the docs
are generated from :data:`ATTRIBUTES` and :data:`METRICS`.

``opentelemetry-api`` is an optional dependency (the ``otel`` extra). Nothing
is built unless the application has imported the API and configured a
provider (an SDK): until then every function here returns at once, and the
API is not even imported. A provider configured later is picked up.

Nothing secret is recorded: attributes are names, counts and ids, and an
exception is recorded on a span only when it is one of ours, whose message
has already been through the redactor.

Instrumentation never breaks the application (OpenTelemetry's own rule): a
provider, processor, span or instrument that raises is caught, the call goes
on without it, and the ``cn_embeddings`` logger says so once per kind of fault.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._version import __version__

log = logging.getLogger("cn_embeddings")
_faults: set[str] = set()  # the kinds of telemetry fault already logged


@contextlib.contextmanager
def _guarded(kind: str) -> Iterator[None]:
    """Run telemetry code; an exception from it is logged once per ``kind`` and goes no further."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - whatever the provider raises, the call goes on
        if kind not in _faults:
            _faults.add(kind)
            log.warning("OpenTelemetry %s failed (%s); calls go on without it", kind, type(error).__name__)


__all__ = [
    "ATTRIBUTES",
    "METRICS",
    "Attempt",
    "Labels",
    "Operation",
    "attached",
    "attempt",
    "carrier",
    "job",
    "operation",
    "record",
]

SCOPE = "cn_embeddings"

# Every attribute recorded, with where and what: the docs table is generated from this.
ATTRIBUTES: dict[str, str] = {
    "gen_ai.operation.name": "call, attempt, job: `embeddings` or `rerank`",
    "gen_ai.provider.name": "call, attempt, job, metrics: the vendor (`tencent`, `qianfan`, `ark`, `tokenhub`)",
    "gen_ai.request.model": "call, attempt, job, metrics: the model asked for",
    "server.address": "call, attempt, job, metrics: the vendor's host (never a proxy's userinfo)",
    "server.port": "call, attempt, job, metrics: the vendor's port (the URL's, else its scheme's)",
    "url.full": "attempt: the endpoint (scheme, host, port, path; never userinfo or a query)",
    "cn_embeddings.quota.id": "rate and in-flight metrics: one controller (a hash of the account and configured quota)",
    "gen_ai.usage.input_tokens": "call: the input tokens the vendor reported (absent when it reports none)",
    "gen_ai.embeddings.dimension.count": "call: the length of the vectors returned",
    "cn_embeddings.inputs": "call, job: how many inputs (documents for rerank) the call was given",
    "error.type": "call, attempt, job, duration metric: the error's class (`RateLimitError`...), not a status",
    "http.request.method": "attempt: `POST`",
    "http.response.status_code": "attempt: the answer's HTTP status",
    "cn_embeddings.request_id": "attempt: the vendor's request id, when the answer carries one",
    "http.request.resend_count": "attempt: 1 for a request's first retry, 2 for its second... (absent on a first try)",
    "cn_embeddings.quota.wait": "attempt: seconds the request waited for the quota before it was sent",
    "cn_embeddings.limit": "refused metric: `requests`, `tokens` or `overload` (the vendor's own load)",
    "cn_embeddings.quota.source": "rate metric: `configured`, `told`, `remembered`, `documented` or `learned`",
    "cn_embeddings.job.written": "job: rows written to the output",
    "cn_embeddings.job.skipped": "job: rows already in the output",
}

# name: (kind, unit, description)
METRICS: dict[str, tuple[str, str, str]] = {
    "gen_ai.client.operation.duration": ("histogram", "s", "Seconds a call took, from its check to its last answer"),
    "gen_ai.client.token.usage": ("histogram", "{token}", "Input tokens per call (gen_ai.token.type = input)"),
    "cn_embeddings.requests.refused": ("counter", "{request}", "Quota refusals (cn_embeddings.limit says which)"),
    "cn_embeddings.requests.retried": ("counter", "{request}", "Attempts sent again after a failure"),
    "cn_embeddings.quota.wait": ("histogram", "s", "Seconds a request waited for the quota before it was sent"),
    "cn_embeddings.cache.lookups": (
        "counter",
        "{input}",
        "Inputs looked up in the embedding cache (cn_embeddings.cache.result: hit or miss)",
    ),
    "cn_embeddings.requests.in_flight": ("observable updowncounter", "{request}", "Requests on the wire now"),
    "cn_embeddings.quota.rate": (
        "observable gauge",
        "{request}/s",
        "The request rate the rate controller paces at now",
    ),
}

# The buckets of the duration histograms: the conventions' advice for gen_ai.client.operation.duration
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


@dataclass(frozen=True)
class Labels:
    """Who is calling: the attributes every span and data point of one client carries."""

    operation: str  # "embeddings" or "rerank"
    vendor: str
    model: str
    server: str
    port: int = 0  # the URL's port, or its scheme's (0: none known)
    url: str = ""  # the endpoint, without userinfo, query or fragment (an attempt span's url.full)

    def attributes(self) -> dict[str, str | int]:
        """A new dict of them (a caller may add to it)."""
        return dict(self._attributes)

    @functools.cached_property
    def _attributes(self) -> dict[str, str | int]:
        said: dict[str, str | int] = {
            "gen_ai.operation.name": self.operation,
            "gen_ai.provider.name": self.vendor,
            "gen_ai.request.model": self.model,
            "server.address": self.server,
        }
        if self.port:  # conditionally required beside server.address
            said["server.port"] = self.port
        return said


class _Otel:
    """The API's tracer, meter and instruments, made once (None: the API is not installed)."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace

        self.trace, self.metrics = trace, metrics
        self.tracer = trace.get_tracer(SCOPE, __version__)
        meter = metrics.get_meter(SCOPE, __version__)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description=METRICS["gen_ai.client.operation.duration"][2],
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description=METRICS["gen_ai.client.token.usage"][2],
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        self.refused = meter.create_counter(
            "cn_embeddings.requests.refused", "{request}", METRICS["cn_embeddings.requests.refused"][2]
        )
        self.retried = meter.create_counter(
            "cn_embeddings.requests.retried", "{request}", METRICS["cn_embeddings.requests.retried"][2]
        )
        self.wait = meter.create_histogram("cn_embeddings.quota.wait", "s", METRICS["cn_embeddings.quota.wait"][2])
        self.lookups = meter.create_counter(
            "cn_embeddings.cache.lookups", "{input}", METRICS["cn_embeddings.cache.lookups"][2]
        )
        meter.create_observable_up_down_counter(  # read from the controllers: no cost per attempt
            "cn_embeddings.requests.in_flight",
            [_observe_in_flight],
            "{request}",
            METRICS["cn_embeddings.requests.in_flight"][2],
        )
        meter.create_observable_gauge(
            "cn_embeddings.quota.rate", [_observe_rates], "{request}/s", METRICS["cn_embeddings.quota.rate"][2]
        )


_state: list[_Otel | None] = []  # empty until first looked for
_state_lock = threading.Lock()


def _api() -> _Otel | None:
    """The API's instruments (None: the API is not installed)."""
    if _state:
        return _state[0]
    with _state_lock:
        if not _state:
            try:
                _state.append(_Otel())
            except ImportError:
                _state.append(None)
            except Exception as error:  # noqa: BLE001 - a provider that raises: no telemetry, said once
                _state.append(None)
                with _guarded("setup"):
                    raise error
    return _state[0]


def _otel() -> _Otel | None:
    """The instruments, when an SDK (or any provider) is configured for traces or metrics: with the
    API's default no-op providers nothing would be recorded, so nothing is built either (the
    providers are looked at on every call, so one configured later is used from then on). Until
    the application has imported the API itself, no provider can be set, and the API is not
    imported here either (it would cost a first call about 40 ms)."""
    if "opentelemetry.trace" not in sys.modules and "opentelemetry.metrics" not in sys.modules:
        return None
    otel = _api()
    if otel is None:
        return None
    with _guarded("provider"):
        if isinstance(otel.trace.get_tracer_provider(), otel.trace.ProxyTracerProvider) and (
            type(otel.metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"  # the API's own placeholder
        ):
            return None
        return otel
    return None


def carrier() -> dict[str, str]:
    """The current trace context as W3C ``traceparent`` headers, to carry to another process (a
    Ray worker), where :func:`attached` makes it the parent of the spans there. Empty without the API."""
    if _api() is None:
        return {}
    from opentelemetry import propagate

    found: dict[str, str] = {}
    propagate.inject(found)
    return found


@contextlib.contextmanager
def attached(found: dict[str, str]) -> Iterator[None]:
    """Spans started inside are children of the context ``found`` carries (see :func:`carrier`)."""
    if not found or _api() is None:
        yield
        return
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract(found))
    try:
        yield
    finally:
        context.detach(token)


def recording_possible() -> bool:
    """Whether the OpenTelemetry API is installed (what it records depends on the SDK configured)."""
    return _api() is not None


def _observe_in_flight(options: Any) -> Iterator[Any]:
    """The in-flight counter: the requests on the wire of every controller alive in the process."""
    from opentelemetry.metrics import Observation

    from ._ratecontrol import live_controllers

    for controller in live_controllers():
        yield Observation(controller.stats().in_flight, _controller_attributes(controller))


def _observe_rates(options: Any) -> Iterator[Any]:
    """The rate gauge: the pacing rate of every controller alive in the process."""
    from opentelemetry.metrics import Observation

    from ._ratecontrol import live_controllers

    for controller in live_controllers():
        stats = controller.stats()
        if stats.rate is not None:
            attributes = {**_controller_attributes(controller), "cn_embeddings.quota.source": stats.source.value}
            yield Observation(stats.rate, attributes)


def _controller_attributes(controller: Any) -> dict[str, str | int]:
    """What the gauges say of a controller: its vendor, model, host and port (as the spans say
    them), and its identity (a hash of the account and the configured quota), so that two
    controllers of one model, on two accounts or with other options, are two points."""
    parts = urlsplit("//" + controller.labels.server)
    attributes: dict[str, str | int] = {
        "gen_ai.provider.name": controller.labels.vendor,
        "gen_ai.request.model": controller.labels.model,
        "server.address": parts.hostname or controller.labels.server,
        "cn_embeddings.quota.id": controller.labels.identity,
    }
    with contextlib.suppress(ValueError):
        if parts.port:
            attributes["server.port"] = parts.port
    return attributes


def _failed(span: Any, error: BaseException) -> str:
    """Mark a span failed; returns the ``error.type``. Only our own errors are recorded as events:
    their messages went through the redactor, a foreign exception's message might not have."""
    from ._exceptions import CNEmbeddingsError

    kind = type(error).__name__
    span.set_attribute("error.type", kind)
    if isinstance(error, CNEmbeddingsError):
        span.record_exception(error)
    span.set_status(_api().trace.Status(_api().trace.StatusCode.ERROR, kind))  # type: ignore[union-attr]
    return kind


class Operation:
    """One call's span, and its duration and token metrics when it ends."""

    def __init__(self, otel: _Otel | None, labels: Labels, span: Any) -> None:
        self.otel, self.labels, self.span = otel, labels, span
        self.input_tokens: int | None = None

    def finished(self, input_tokens: int | None = None, dimension: int | None = None) -> None:
        """What the call returned: the input tokens the vendor reported, the vectors' length."""
        if self.span is None:
            return
        if input_tokens:
            self.input_tokens = input_tokens
        with _guarded("span"):
            if input_tokens:
                self.span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
            if dimension:
                self.span.set_attribute("gen_ai.embeddings.dimension.count", dimension)

    def set(self, name: str, value: int | str) -> None:
        if self.span is not None:
            with _guarded("span"):
                self.span.set_attribute(name, value)


_OFF = Operation(None, Labels("", "", "", ""), None)


@contextlib.contextmanager
def operation(
    labels: Labels, inputs: int | None = None, *, name: str | None = None, metrics: bool = True
) -> Iterator[Operation]:
    """The span of one call (the current span inside it, so that attempts in worker threads and
    tasks are its children), and the call's duration and token metrics when it ends. ``inputs``:
    how many, when known before the inputs are checked. ``metrics`` False: a span only (a bulk
    job, whose batches are the operations and record their own)."""
    otel = _otel()
    if otel is None:
        yield _OFF
        return
    attributes: dict[str, str | int] = {**labels._attributes}
    if inputs is not None:
        attributes["cn_embeddings.inputs"] = inputs
    started = time.perf_counter()
    current: Any = None
    with _guarded("span"):
        manager = otel.tracer.start_as_current_span(
            name or f"{labels.operation} {labels.model}",
            kind=otel.trace.SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        span = manager.__enter__()
        current = manager  # entered: exited below
    if current is None:
        yield _OFF
        return
    call = Operation(otel, labels, span)
    error_type = None
    try:
        yield call
    except BaseException as error:
        error_type = type(error).__name__
        with _guarded("span"):
            _failed(span, error)
        raise
    finally:
        with _guarded("span"):
            current.__exit__(None, None, None)
        if metrics:
            with _guarded("metric"):
                measured = labels.attributes()
                if error_type is not None:
                    measured["error.type"] = error_type
                otel.duration.record(time.perf_counter() - started, measured)
                if call.input_tokens:
                    otel.tokens.record(call.input_tokens, {**labels._attributes, "gen_ai.token.type": "input"})


def job(labels: Labels, inputs: int) -> contextlib.AbstractContextManager[Operation]:
    """The span of a bulk job; each batch's call span is its child, and records the metrics (the
    job recorded them too, and a dashboard summing tokens showed twice what the vendor billed)."""
    return operation(labels, inputs, name=f"{labels.operation} job {labels.model}", metrics=False)


class Attempt:
    """One HTTP attempt's span, from the moment it may be sent to its answer."""

    __slots__ = ("otel", "labels", "span", "number")

    def __init__(self, otel: _Otel | None, labels: Labels, span: Any, number: int) -> None:
        self.otel, self.labels, self.span, self.number = otel, labels, span, number

    def answered(self, status: int | None, request_id: str | None, error: BaseException | None) -> None:
        """The attempt's end: the HTTP status (None: no answer), the vendor's request id, and the
        failure the flow made of it (None: accepted)."""
        if self.otel is None:
            return
        span = self.span
        with _guarded("span"):
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if request_id:
                span.set_attribute("cn_embeddings.request_id", request_id)
            if error is not None:
                _failed(span, error)
        with _guarded("span"):
            span.end()


def attempt(labels: Labels, number: int, waited: float) -> Attempt:
    """An attempt about to be sent: ``number`` counts from 1, ``waited`` is the seconds its turn
    to send took (also recorded in the ``cn_embeddings.quota.wait`` histogram)."""
    otel = _otel()
    if otel is None:
        return Attempt(None, labels, None, number)
    attributes = labels._attributes
    with _guarded("metric"):
        otel.wait.record(waited, attributes)
    span = None
    with _guarded("span"):
        span = otel.tracer.start_span(
            "POST",
            kind=otel.trace.SpanKind.CLIENT,
            attributes={
                **attributes,
                "http.request.method": "POST",
                "url.full": labels.url,
                "cn_embeddings.quota.wait": waited,
                **({"http.request.resend_count": number - 1} if number > 1 else {}),
            },
        )
    return Attempt(otel if span is not None else None, labels, span, number)


def record(labels: Labels, *, refused: str | None = None, retried: str | None = None) -> None:
    """Count a quota refusal (``refused``: which limit) or a retry (``retried``: the error type)."""
    otel = _otel()
    if otel is None:
        return
    with _guarded("metric"):
        if refused is not None:
            otel.refused.add(1, {**labels._attributes, "cn_embeddings.limit": refused})
        if retried is not None:
            otel.retried.add(1, {**labels._attributes, "error.type": retried})


def cache_lookups(labels: Labels, hits: int, misses: int) -> None:
    """Count one call's cache lookups, in inputs."""
    otel = _otel()
    if otel is None:
        return
    with _guarded("metric"):
        for result, count in (("hit", hits), ("miss", misses)):
            if count:
                otel.lookups.add(count, {**labels._attributes, "cn_embeddings.cache.result": result})
