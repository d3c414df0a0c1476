"""The transport core with httpx.MockTransport: batching, order, retries, limiter, bad input."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time

import httpx
import pytest

from cn_embeddings import (
    APIConnectionError,
    ArkClient,
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    QianfanClient,
    RateLimitError,
    TencentCloudClient,
)
from cn_embeddings._retry import backoff_seconds, parse_retry_after


class Recorder:
    """A Qianfan-shaped fake service: vector = [index in the whole corpus]; records every request."""

    def __init__(self, fail=None, delay=0.0):
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        self.fail = fail or (lambda n, body: None)
        self.delay = delay

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self.lock:
            n = len(self.bodies)
            self.bodies.append(body)
        if self.delay:
            time.sleep(random.random() * self.delay)
        failure = self.fail(n, body)
        if failure is not None:
            return failure
        data = [{"embedding": [float(t.split("-")[1])], "index": i} for i, t in enumerate(body["input"])]
        return httpx.Response(200, json={"data": data, "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    async def handle_async(self, request):
        return self(request)


def qianfan(recorder, model="embedding-v1", **kw):
    return QianfanClient(
        model,
        api_key="k",
        zero_waits=True,
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
        http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder.handle_async)),
        **kw,
    )


TEXTS = [f"t-{i}" for i in range(100)]


@pytest.mark.parametrize("model,limit", [("embedding-v1", 16), ("bge-large-zh", 16), ("tao-8k", 1)])
def test_batches_fill_the_vendor_limit(model, limit):
    rec = Recorder()
    vectors = qianfan(rec, model).embed_texts(TEXTS[:33])
    assert vectors == [[float(i)] for i in range(33)]
    sizes = sorted(len(b["input"]) for b in rec.bodies)  # batches go out concurrently, in any order
    assert sizes == sorted(min(limit, 33 - i) for i in range(0, 33, limit))
    assert all("encoding_format" not in b for b in rec.bodies)  # float is the default; never base64


def test_batch_size_lowers_but_cannot_raise_a_documented_limit():
    rec = Recorder()
    qianfan(rec, batch_size=5).embed_texts(TEXTS[:12])
    assert [len(b["input"]) for b in rec.bodies] == [5, 5, 2]
    with pytest.raises(ConfigurationError, match="above the qianfan limit of 16"):
        qianfan(rec, batch_size=17)


def test_order_is_kept_under_concurrency_sync_and_async():
    rec = Recorder(delay=0.01)
    client = qianfan(rec, batch_size=3, max_concurrency=8)
    expected = [[float(i)] for i in range(100)]
    assert client.embed_texts(TEXTS) == expected
    assert asyncio.run(client.aembed_texts(TEXTS)) == expected
    assert client.usage.requests == 2 * 34


def test_concurrency_is_bounded():
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.01)
        with lock:
            in_flight[0] -= 1
        body = json.loads(request.content)
        return httpx.Response(200, json={"data": [{"embedding": [1.0], "index": i} for i in range(len(body["input"]))]})

    client = QianfanClient(
        api_key="k",
        batch_size=1,
        max_concurrency=3,
        requests_per_second=0,
        http_client=httpx.Client(transport=httpx.MockTransport(slow)),
    )
    client.embed_texts(TEXTS[:30])
    assert peak[0] == 3


def test_empty_list_sends_nothing():
    rec = Recorder()
    assert qianfan(rec).embed_texts([]) == [] and asyncio.run(qianfan(rec).aembed_texts([])) == []
    assert rec.bodies == []


def test_retries_transient_errors_then_succeeds():
    answers = [
        httpx.Response(429, json={"error": {"code": "rpm_rate_limit_exceeded", "message": "m"}}),
        httpx.Response(500, json={"error": {"code": "internal_error", "message": "m"}}),
    ]
    rec = Recorder(fail=lambda n, body: answers[n] if n < 2 else None)
    client = qianfan(rec)
    assert client.embed_texts(["t-7"]) == [[7.0]]
    assert (client.usage.requests, client.usage.retries) == (3, 2)


def test_never_retries_auth_and_reports_the_vendor_error():
    rec = Recorder(
        fail=lambda n, body: httpx.Response(
            401, json={"error": {"code": "invalid_iam_token", "message": "IAM failed"}, "id": "as-9"}
        )
    )
    with pytest.raises(AuthenticationError) as info:
        qianfan(rec).embed_texts(["t-1"])
    assert len(rec.bodies) == 1
    assert "invalid_iam_token" in str(info.value) and "as-9" in str(info.value)


def test_retry_budget_is_respected_and_error_names_the_batch():
    rec = Recorder(
        fail=lambda n, body: (
            httpx.Response(503, json={"error": {"code": "internal_error", "message": "m"}})
            if "t-20" in body["input"]
            else None
        )
    )
    with pytest.raises(Exception) as info:
        qianfan(rec, max_retries=2, max_concurrency=1).embed_texts(TEXTS[:40])
    err = info.value
    assert err.failed == list(range(16, 32)) and err.attempts == 3
    # the third batch may be sent while the second waits out its retries (one in flight at a time)
    assert set(range(16)) <= set(err.embedded) and set(range(16, 32)) <= set(err.not_embedded)
    assert sorted(err.embedded + err.not_embedded) == list(range(40))
    assert "16-31" in str(err) and "after 3 attempts" in str(err)
    assert sum(1 for b in rec.bodies if "t-20" in b["input"]) == 3


def test_connection_errors_are_retried_then_typed():
    calls = [0]

    def drop(request):
        calls[0] += 1
        raise httpx.RemoteProtocolError("server disconnected", request=request)

    client = QianfanClient(
        api_key="k", zero_waits=True, max_retries=1, http_client=httpx.Client(transport=httpx.MockTransport(drop))
    )
    with pytest.raises(APIConnectionError):
        client.embed_texts(["a"])
    assert calls[0] == 2


def test_backoff_and_retry_after_parsing():
    assert 0.375 <= backoff_seconds(0, None) <= 0.5 and 6 <= backoff_seconds(5, None) <= 8
    assert backoff_seconds(2, 3.0) == 3.0 and backoff_seconds(0, 120.0) <= 0.5  # over 60 s is ignored
    assert parse_retry_after("2") == 2.0 and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_rate_control_starts_from_the_documented_quota():
    client = TencentCloudClient("WeCLIPv2-Base", secret_id="i", secret_key="k")
    assert client.controller.rate == 10
    assert TencentCloudClient("bge-m3", secret_id="i", secret_key="k").controller.rate == 20
    ark = ArkClient(api_key="k").controller.stats()  # a published bound, not this account's: found below it
    assert ark.starting and ark.rate == 60 and ark.token_rate == 20_000
    assert TencentCloudClient(secret_id="i", secret_key="k", requests_per_second=0).controller.rate is None
    assert QianfanClient(api_key="k" * 8, requests_per_second=7).controller.rate == 7


def test_missing_credentials_name_the_variable(monkeypatch):
    for var in ("QIANFAN_API_KEY", "ARK_API_KEY", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError, match="QIANFAN_API_KEY"):
        QianfanClient()
    with pytest.raises(ConfigurationError, match="ARK_API_KEY"):
        ArkClient()
    with pytest.raises(ConfigurationError, match="TENCENTCLOUD_SECRET_ID"):
        TencentCloudClient()
    monkeypatch.setenv("ARK_API_KEY", "from-env")
    assert ArkClient().auth.secret_values() == ("from-env",)  # type: ignore[attr-defined]


def test_user_http_client_is_still_authenticated_and_default_headers_apply():
    seen = []

    def handler(request):
        seen.append(request.headers)
        return httpx.Response(200, json={"data": {"embedding": [1.0, 0.0]}})

    client = ArkClient(
        api_key="ark-test",
        encoding_format="float",
        default_headers={"X-Team": "search"},
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    client.embed_texts(["x"])
    assert seen[0]["Authorization"] == "Bearer ark-test" and seen[0]["X-Team"] == "search"


@pytest.mark.parametrize(
    "inputs,match",
    [
        (["ok", ""], "input 1: text is empty"),
        (["ok", "   "], "input 1: text is empty"),
        (["ok", None], "input 1: text must be str"),
        ([3], "input 0: text must be str"),
        (["x" * 1001], "input 0: text has 1001 characters; embedding-v1 accepts at most 1000"),
        ([{"image": "ftp://host/a.png"}], "unsupported URL scheme ftp"),
    ],
)
def test_bad_input_raises_before_any_request(inputs, match):
    rec = Recorder()
    with pytest.raises(InvalidInputError, match=match):
        qianfan(rec).embed(inputs)
    assert rec.bodies == []


def test_truncate_cuts_to_the_limit():
    rec = Recorder()
    qianfan(rec, truncate=True).embed(["t-1-" + "x" * 2000])
    assert len(rec.bodies[0]["input"][0]) == 1000


def test_text_only_model_rejects_images_with_configuration_error(images):
    rec = Recorder()
    with pytest.raises(ConfigurationError, match="text-only"):
        qianfan(rec).embed_images([images[0]])
    assert rec.bodies == []


def test_async_cancellation_leaves_no_task():
    gate = asyncio.Event()

    async def never(request):
        await gate.wait()

    client = QianfanClient(
        api_key="k", batch_size=1, http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(never))
    )

    async def main():
        task = asyncio.ensure_future(client.aembed_texts(TEXTS[:20]))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(main()) == []


def test_rate_limit_error_is_typed():
    rec = Recorder(fail=lambda n, body: httpx.Response(429, json={"error": {"code": "quota_exceeded", "message": "m"}}))
    with pytest.raises(RateLimitError) as info:
        qianfan(rec).embed_texts(["t-1"])
    assert not info.value.retryable and len(rec.bodies) == 1


def test_an_errors_record_names_inputs_not_a_count():
    """'not embedded: input 0' cannot be read as 'zero inputs were not embedded'."""
    from cn_embeddings._exceptions import CallRecord, ServerError, attach_record

    one = attach_record(
        ServerError(vendor="ark", code="c", message="m"), CallRecord(embedded=[1, 2], not_embedded=[0], failed=[0])
    )
    assert "request for input 0 failed; not embedded: input 0; embedded: 2 of 3" in str(one)
    many = attach_record(
        ServerError(vendor="ark", code="c", message="m"), CallRecord(not_embedded=[0, 1, 2, 5], failed=[0, 1])
    )
    assert "request for inputs 0-1 failed; not embedded: inputs 0-2, 5; embedded: 0 of 4" in str(many)
