"""OpenTelemetry spans and metrics, logs and progress, against the emulator and mock transports.

The SDK's in-memory span exporter and metric reader are installed once for the process (the
global providers can be set only once); each test starts from an empty exporter. Without the
SDK, and without the API, a call must record nothing and fail in nothing: those run in a
subprocess of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cn_embeddings import AuthenticationError, QianfanClient
from cn_embeddings._telemetry import ATTRIBUTES, METRICS
from cn_embeddings.bulk import Source, embed_corpus, open_sink
from cn_embeddings.testing import Emulator, Faults

ROOT = Path(__file__).resolve().parents[2]


class _Switched(SimpleSpanProcessor):
    """Exports while on: the providers stay installed after this module, recording for nobody."""

    on = True

    def on_end(self, span):
        if self.on:
            super().on_end(span)


@pytest.fixture(scope="module")
def otel():
    """(span exporter, metric reader), installed as the process's providers."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    processor = _Switched(exporter)
    tracer_provider.add_span_processor(processor)
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    if trace.get_tracer_provider() is not tracer_provider:  # pragma: no cover - set by another module
        pytest.fail("another tracer provider was installed first")
    yield exporter, reader
    processor.on = False  # later tests' spans are not kept
    exporter.clear()


@pytest.fixture
def spans(otel):
    exporter, reader = otel
    reader.get_metrics_data()  # nothing carried over (cumulative points are compared as differences)
    exporter.clear()
    return exporter


def _points(reader, name):
    """{attributes: data point} of one metric, as collected now."""
    found = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        found[tuple(sorted(point.attributes.items()))] = point
    return found


def _by_name(finished):
    return {s.name: s for s in finished}


def _children(finished, parent):
    return [s for s in finished if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _sum(points, **wanted):
    total = 0
    for attributes, point in points.items():
        held = dict(attributes)
        if all(held.get(k) == v for k, v in wanted.items()):
            total += getattr(point, "sum", None) if hasattr(point, "bucket_counts") else point.value
    return total


def _count(points, **wanted):
    return sum(
        point.count
        for attributes, point in points.items()
        if all(dict(attributes).get(k) == v for k, v in wanted.items())
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_call_span_with_an_attempt_span_per_request(emu, spans, otel, mode):
    _, reader = otel
    before = _count(_points(reader, "gen_ai.client.operation.duration"), **{"gen_ai.request.model": "embedding-v1"})
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0)
    texts = [f"text {i}" for i in range(40)]  # 16 a request: 3 requests
    result = client.embed(texts) if mode == "sync" else asyncio.run(client.aembed(texts))
    finished = spans.get_finished_spans()
    call = _by_name(finished)["embeddings embedding-v1"]
    assert call.kind is trace.SpanKind.CLIENT and call.parent is None
    assert call.attributes["gen_ai.operation.name"] == "embeddings"
    assert call.attributes["gen_ai.provider.name"] == "qianfan"
    assert call.attributes["gen_ai.request.model"] == "embedding-v1"
    assert call.attributes["server.address"] == "127.0.0.1" and call.attributes["server.port"] == emu.port
    assert call.attributes["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens > 0
    assert call.attributes["gen_ai.embeddings.dimension.count"] == len(result.vectors[0]) == 384
    assert call.attributes["cn_embeddings.inputs"] == 40
    attempts = _children(finished, call)
    assert len(attempts) == 3 == len(emu.seen), "every attempt is a child of its call, in threads and in tasks"
    for attempt in attempts:
        assert attempt.name == "POST" and attempt.kind is trace.SpanKind.CLIENT
        assert attempt.attributes["http.request.method"] == "POST"
        assert attempt.attributes["http.response.status_code"] == 200
        assert "http.request.resend_count" not in attempt.attributes  # a first try
        assert attempt.attributes["url.full"] == f"http://127.0.0.1:{emu.port}/v2/embeddings"
        assert attempt.attributes["server.port"] == emu.port
        assert attempt.attributes["cn_embeddings.quota.wait"] >= 0
        assert len(attempt.attributes["cn_embeddings.request_id"]) > 8
        assert "error.type" not in attempt.attributes
    after = _points(reader, "gen_ai.client.operation.duration")
    assert _count(after, **{"gen_ai.request.model": "embedding-v1"}) == before + 1
    tokens = _points(reader, "gen_ai.client.token.usage")
    assert _count(tokens, **{"gen_ai.token.type": "input", "gen_ai.provider.name": "qianfan"}) >= 1
    in_flight = _points(reader, "cn_embeddings.requests.in_flight")
    assert _sum(in_flight, **{"gen_ai.provider.name": "qianfan"}) == 0, (
        "read from the controllers: nothing on the wire once the call returned"
    )


def test_refusals_retries_and_waits_under_an_emulator_quota(spans, otel):
    _, reader = otel
    with Emulator(faults=Faults(qps=5, latency_ms=5)) as emu:  # Qianfan documents no quota: it is found
        client = emu.client("qianfan", "embedding-v1", batch_size=1, remember_quota=False)
        client.embed([f"text {i}" for i in range(30)])
    refusals = emu_refused = sum(1 for s in emu.seen if s.status == 429)
    assert emu_refused > 0, "the start found the quota by its refusals"
    refused = _points(reader, "cn_embeddings.requests.refused")
    assert _sum(refused, **{"cn_embeddings.limit": "requests", "gen_ai.provider.name": "qianfan"}) >= refusals
    retried = _points(reader, "cn_embeddings.requests.retried")
    assert _sum(retried, **{"gen_ai.provider.name": "qianfan"}) >= refusals
    waits = _points(reader, "cn_embeddings.quota.wait")
    assert _sum(waits, **{"gen_ai.provider.name": "qianfan"}) > 1.0, "30 requests at 5/s wait for the quota"
    rates = _points(reader, "cn_embeddings.quota.rate")
    learned = [p.value for a, p in rates.items() if dict(a).get("cn_embeddings.quota.source") == "learned"]
    assert learned and min(learned) < 10
    finished = spans.get_finished_spans()
    refused_attempts = [s for s in finished if s.attributes.get("http.response.status_code") == 429]
    assert len(refused_attempts) == refusals
    assert all(s.attributes["error.type"] == "RateLimitError" for s in refused_attempts)
    retries = [s for s in finished if s.name == "POST" and s.attributes.get("http.request.resend_count", 0) >= 1]
    assert len(retries) == refusals


def test_a_failed_call_records_its_error_and_no_credential_anywhere(spans, otel):
    _, reader = otel
    with Emulator() as emu:
        secrets = [
            emu.credentials.secret_id,
            emu.credentials.secret_key,
            emu.credentials.qianfan_api_key,
            emu.credentials.ark_api_key,
            emu.credentials.tokenhub_api_key,
            emu.credentials.volc_access_key,
            emu.credentials.volc_secret_key,
        ]
        for vendor in ("tencent", "qianfan", "ark", "tokenhub"):
            client = emu.client(vendor, requests_per_second=0)
            client.embed(["ok"])
            emu.faults.script("auth")
            with pytest.raises(AuthenticationError):
                client.embed(["refused"])
        for vendor in ("tencent", "qianfan", "volcengine"):
            emu.reranker(vendor, requests_per_second=0).rerank("q", ["a", "b"])
    # a vendor that echoes the key back: the message is redacted before it reaches a span
    key = "sk-echoed-back-9f8e7d"

    def echo(request: httpx.Request) -> httpx.Response:
        said = request.headers["authorization"]
        return httpx.Response(401, json={"error": {"code": "401", "message": f"bad key {said}"}})

    echoing = QianfanClient(api_key=key, http_client=httpx.Client(transport=httpx.MockTransport(echo)))
    with pytest.raises(AuthenticationError):
        echoing.embed(["x"])
    finished = spans.get_finished_spans()
    failed_calls = [s for s in finished if s.name.startswith("embeddings ") and "error.type" in s.attributes]
    assert len(failed_calls) == 5
    assert all(s.attributes["error.type"] == "AuthenticationError" for s in failed_calls)
    assert all(s.status.status_code is trace.StatusCode.ERROR for s in failed_calls)
    assert all(any(e.name == "exception" for e in s.events) for s in failed_calls)
    assert {s.name for s in finished if s.name.startswith("rerank ")}, "the rerankers' spans"
    dumped = "".join(s.to_json() for s in finished) + reader.get_metrics_data().to_json()
    assert "bad key" in dumped, "the echoed message is there, redacted"
    for secret in [*secrets, key]:
        assert secret not in dumped


def test_the_frameworks_and_the_bulk_job_are_traced(emu, spans, otel, tmp_path):
    from langchain_cn_embeddings import QianfanEmbeddings
    from llama_index_cn_embeddings import QianfanEmbedding

    settings = {**emu.settings("qianfan"), "requests_per_second": 0}
    QianfanEmbeddings(**settings).embed_documents(["a", "b"])
    QianfanEmbedding(**settings).get_text_embedding_batch(["c", "d"])
    names = [s.name for s in spans.get_finished_spans()]
    assert names.count("embeddings embedding-v1") == 2 and names.count("POST") == 2
    spans.clear()
    reader = otel[1]
    before_tokens = _sum(_points(reader, "gen_ai.client.token.usage"), **{"gen_ai.request.model": "embedding-v1"})
    before_calls = _count(
        _points(reader, "gen_ai.client.operation.duration"), **{"gen_ai.request.model": "embedding-v1"}
    )
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0)
    summary = embed_corpus(client, Source(texts=[f"text {i}" for i in range(40)]), open_sink(tmp_path / "out.jsonl"))
    tokens = _sum(_points(reader, "gen_ai.client.token.usage"), **{"gen_ai.request.model": "embedding-v1"})
    calls = _count(_points(reader, "gen_ai.client.operation.duration"), **{"gen_ai.request.model": "embedding-v1"})
    assert tokens - before_tokens == summary.usage.total_tokens  # once, as billed: the job adds none
    assert calls - before_calls == 3  # the three batches, not the job as a fourth operation
    finished = spans.get_finished_spans()
    job = _by_name(finished)["embeddings job embedding-v1"]
    assert job.attributes["cn_embeddings.job.written"] == summary.written == 40
    batches = _children(finished, job)
    assert len(batches) == 3 and all(b.name == "embeddings embedding-v1" for b in batches)
    assert all(len(_children(finished, b)) == 1 for b in batches), "each batch's attempt under it"


def test_logs_say_what_happens_in_one_line_each(caplog):
    caplog.set_level(logging.DEBUG, logger="cn_embeddings")
    with Emulator(faults=Faults(qps=5)) as emu:
        emu.client("qianfan", "embedding-v1", batch_size=1, remember_quota=False).embed([f"t{i}" for i in range(20)])
        failing = emu.client("ark", requests_per_second=0, max_retries=1)
        emu.faults.script("server_error", count=5)
        with pytest.raises(Exception):
            failing.embed(["x"])
    records = [r for r in caplog.records if r.name == "cn_embeddings"]
    assert all("\n" not in r.getMessage() for r in records)
    rate = [r for r in records if r.levelno == logging.INFO and "pacing at" in r.getMessage()]
    assert rate and "qianfan embedding-v1" in rate[0].getMessage() and "source: learned" in rate[0].getMessage()
    retries = [r for r in records if r.levelno == logging.DEBUG and "retrying after" in r.getMessage()]
    assert any("request id " in r.getMessage() and "request id none" not in r.getMessage() for r in retries)
    gave_up = [r for r in records if r.levelno == logging.WARNING]
    assert len(gave_up) == 1 and "the call failed, 1 of 1 inputs not embedded" in gave_up[0].getMessage()
    assert "ark " in gave_up[0].getMessage()


def test_progress_from_the_core_client(emu, capsys):
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0)
    seen = []
    client.embed([f"t{i}" for i in range(40)], on_progress=lambda done, total: seen.append((done, total)))
    assert sorted(seen) == seen and seen[-1] == (40, 40) and len(seen) == 3
    asyncio.run(client.aembed(["a"] * 20, on_progress=lambda done, total: seen.append((done, total))))
    assert seen[-1] == (20, 20)
    client.embed(["a", "b"], show_progress=True)
    assert "2/2" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["sdk", "api"])
def test_without_the_sdk_or_the_api_nothing_is_recorded_and_nothing_fails(missing):
    script = f"""
import sys
if {missing == "api"!r}:
    sys.modules["opentelemetry"] = None  # as if not installed
from cn_embeddings import _telemetry
from cn_embeddings.testing import Emulator
with Emulator() as emu:
    client = emu.client("qianfan", requests_per_second=0)
    assert len(client.embed(["a", "b"]).vectors) == 2
    with _telemetry.operation(client.labels, 1) as call:
        pass
assert call.span is None  # nothing is built: there is nothing to record it
assert _telemetry.recording_possible() is {missing == "sdk"!r}
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_every_attribute_and_metric_is_in_the_docs_tables():
    from scripts.doctables import render

    page = render((ROOT / "docs" / "how-to" / "observability.md").read_text(encoding="utf-8"))
    for name in [*ATTRIBUTES, *METRICS]:
        assert f"| `{name}` |" in page


def test_a_ray_workers_calls_are_children_of_the_drivers_span(emu, spans):
    """The Embedder carries the W3C trace context of the span current where embed_dataset was
    called; a worker (here called directly, in another thread) makes its calls children of it."""
    import threading

    import pyarrow as pa

    from cn_embeddings import _telemetry
    from cn_embeddings.ray import Embedder

    tracer = trace.get_tracer("driver")
    with tracer.start_as_current_span("load corpus") as driver:
        carried = _telemetry.carrier()
    assert "traceparent" in carried
    embedder = Embedder(emu.client("qianfan", requests_per_second=0), trace_context=carried)
    worker = threading.Thread(target=embedder, args=(pa.table({"text": ["a", "b"]}),))
    worker.start()
    worker.join()
    (call,) = [s for s in spans.get_finished_spans() if s.name.startswith("embeddings ")]
    assert call.parent.span_id == driver.get_span_context().span_id
    assert call.context.trace_id == driver.get_span_context().trace_id


def test_a_proxy_password_in_base_url_reaches_no_key_label_or_file(spans, otel, tmp_path, monkeypatch, redis_url):
    """An authenticating proxy in front of the vendor (``http://user:password@host/``): its userinfo
    counts only through the account hash. It used to name the quota, and so reached quotas.json,
    the Redis key names of a shared quota and the gauges' ``server.address``."""
    _, reader = otel
    monkeypatch.setenv("CN_EMBEDDINGS_CACHE_DIR", str(tmp_path))
    with Emulator() as emu:
        url = emu.qianfan_url.replace("http://", "http://proxyuser:pr0xy-s3cret@")
        client = QianfanClient("embedding-v1", api_key=emu.credentials.qianfan_api_key, base_url=url)
        shared = QianfanClient(
            "embedding-v1", api_key=emu.credentials.qianfan_api_key, base_url=url, quota_url=redis_url
        )
        client.embed(["一段文字"])
        shared.embed(["一段文字"])
    plain = QianfanClient("embedding-v1", api_key=emu.credentials.qianfan_api_key, base_url=emu.qianfan_url)
    assert client.controller.labels.server == plain.controller.labels.server == f"127.0.0.1:{emu.port}"
    assert client.controller is not plain.controller  # another account: the userinfo is in its hash
    from cn_embeddings._core import quota_key
    from cn_embeddings._ratecontrol._memory import FileMemory

    FileMemory(quota_key("qianfan", url, client.auth, "embedding-v1"), tmp_path).keep(9.0)  # as a run would
    shared.controller.store.keep(9.0)
    import redis

    names = [key.decode() for key in redis.Redis.from_url(redis_url).keys("*")]
    rates = _points(reader, "cn_embeddings.quota.rate")
    in_flight = _points(reader, "cn_embeddings.requests.in_flight")
    seen = [repr(rates), repr(in_flight), *names, (tmp_path / "quotas.json").read_text(), repr(client.controller)]
    seen += [repr(shared.controller.store), repr(client.controller.stats())]
    assert names and all("pr0xy-s3cret" not in text and "proxyuser" not in text for text in seen)
    points = [dict(a) for a in in_flight]
    ours = [p for p in points if p.get("server.port") == emu.port]
    assert ours and all(p["server.address"] == "127.0.0.1" for p in ours)


def test_the_gauges_keep_two_controllers_of_one_model_apart(spans, otel):
    """Two accounts (or two ceilings) on one model are two controllers and two points: the gauge
    once showed an idle client's 60/s where the busy one was paced at 4/s."""
    _, reader = otel
    first = QianfanClient("embedding-v1", api_key="a" * 8, requests_per_second=60)
    second = QianfanClient("embedding-v1", api_key="b" * 8, requests_per_second=4)
    rates = _points(reader, "cn_embeddings.quota.rate")
    mine = {dict(a)["cn_embeddings.quota.id"]: p.value for a, p in rates.items()}
    assert mine[first.controller.labels.identity] == 60 and mine[second.controller.labels.identity] == 4


@pytest.mark.parametrize("case", ["a 70 KB page", "a request id"])
def test_a_retried_error_echoing_the_key_reaches_no_span_or_log(spans, otel, caplog, case):
    """A gateway's 500 page of 70 KB echoing ``Authorization: Bearer <key>`` (redaction used to
    stop at 64 KiB), or an ``x-request-id`` echoing it, then a success: the retried error went to
    the attempt span and the DEBUG "retrying" line as it came."""
    key = "qf-LeakyKey-123456789"
    answers = []

    def handler(request: httpx.Request) -> httpx.Response:
        answers.append(request)
        if len(answers) == 1:
            echoed = request.headers["Authorization"]
            if case == "a 70 KB page":
                page = "<html>" + "x" * 70_000 + f"<pre>Authorization: {echoed}</pre></html>"
                return httpx.Response(500, text=page, headers={"Content-Type": "text/html"})
            return httpx.Response(500, json={"error": {"code": "x", "message": "busy"}}, headers={"x-request-id": key})
        body = {"data": [{"object": "embedding", "embedding": [0.5, 0.5], "index": 0}], "usage": {"total_tokens": 2}}
        return httpx.Response(200, json=body, headers={"x-request-id": "ok-1"})

    client = QianfanClient(
        api_key=key, remember_quota=False, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    with caplog.at_level(logging.DEBUG, logger="cn_embeddings"):
        assert len(client.embed_texts(["一"])) == 1
    assert len(answers) == 2
    finished = spans.get_finished_spans()
    exported = [repr(s.attributes) + repr([(e.name, e.attributes) for e in s.events]) for s in finished]
    assert finished and all("LeakyKey" not in text for text in exported)
    assert "retrying" in caplog.text and "LeakyKey" not in caplog.text


class _Raises:
    """An object every method of which raises (a hostile span, instrument or tracer)."""

    def __init__(self, real=None, failing=()):
        self._real, self._failing = real, set(failing)

    def __getattr__(self, name):
        if self._real is not None and name not in self._failing:
            return getattr(self._real, name)

        def fail(*args, **kwargs):
            raise RuntimeError(f"telemetry {name} broke")

        return fail


def _hostile(fault: str):
    """A copy of the instruments whose ``fault`` raises."""
    import copy

    from opentelemetry.sdk.trace import SpanProcessor

    from cn_embeddings import _telemetry

    real = _telemetry._api()
    otel = copy.copy(real)
    if fault in ("on_start", "on_end"):

        class Broken(SpanProcessor):
            def on_start(self, span, parent_context=None):
                if fault == "on_start":
                    raise RuntimeError("on_start broke")

            def on_end(self, span):
                if fault == "on_end":
                    raise RuntimeError("on_end broke")

        provider = TracerProvider()
        provider.add_span_processor(Broken())
        otel.tracer = provider.get_tracer("hostile")
    elif fault == "start_span":
        otel.tracer = _Raises(real.tracer, {"start_span", "start_as_current_span"})
    elif fault in ("set_attribute", "end"):

        class Tracer:
            def start_span(self, *args, **kwargs):
                return _Raises(real.tracer.start_span(*args, **kwargs), {fault})

            @contextlib.contextmanager
            def start_as_current_span(self, *args, **kwargs):
                with real.tracer.start_as_current_span(*args, **kwargs) as span:
                    yield _Raises(span, {fault})

        otel.tracer = Tracer()
    elif fault == "record":
        for name in ("duration", "tokens", "wait", "refused", "retried"):
            setattr(otel, name, _Raises(getattr(real, name), {"record", "add"}))
    return otel


@pytest.mark.parametrize("fault", ["on_start", "on_end", "start_span", "set_attribute", "end", "record", "setup"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_telemetry_that_raises_never_fails_a_call(emu, otel, monkeypatch, caplog, fault, mode):
    """Each of these failed calls the vendor had answered and been paid for (with on_end, all 80
    inputs), sync and async: now every input gets its vector, with one warning per kind of fault."""
    from cn_embeddings import _telemetry

    if fault == "setup":  # the meter's create_histogram raises while the instruments are made
        monkeypatch.setattr(_telemetry, "_state", [])
        monkeypatch.setattr(_telemetry._Otel, "__init__", lambda self: (_ for _ in ()).throw(RuntimeError("no")))
    else:
        hostile = _hostile(fault)
        monkeypatch.setattr(_telemetry, "_otel", lambda: hostile)
    monkeypatch.setattr(_telemetry, "_faults", set())
    emu.faults = Faults(server_error_rate=0.2, seed=3)  # retries too: their spans and counters run
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0, batch_size=4)
    texts = [f"第 {i} 段" for i in range(80)]
    with caplog.at_level(logging.WARNING, logger="cn_embeddings"):
        vectors = client.embed_texts(texts) if mode == "sync" else asyncio.run(client.aembed_texts(texts))
    paid = sum(s.inputs for s in emu.seen if s.ok)
    assert len(vectors) == paid == 80
    warned = [r for r in caplog.records if "OpenTelemetry" in r.getMessage()]
    assert 1 <= len(warned) <= 3 and len({r.getMessage() for r in warned}) == len(warned)
