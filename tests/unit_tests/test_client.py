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
from cn_embeddings._ratelimit import RateLimiter
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
    return QianfanClient(model, api_key="k", zero_waits=True,
                         http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
                         http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder.handle_async)),
                         **kw)


TEXTS = [f"t-{i}" for i in range(100)]


@pytest.mark.parametrize("model,limit", [("embedding-v1", 16), ("bge-large-zh", 16), ("tao-8k", 1)])
def test_batches_fill_the_vendor_limit(model, limit):
    rec = Recorder()
    vectors = qianfan(rec, model).embed_texts(TEXTS[:33])
    assert vectors == [[float(i)] for i in range(33)]
    assert [len(b["input"]) for b in rec.bodies] == [min(limit, 33 - i) for i in range(0, 33, limit)]
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

    client = QianfanClient(api_key="k", batch_size=1, max_concurrency=3,
                           http_client=httpx.Client(transport=httpx.MockTransport(slow)))
    client.embed_texts(TEXTS[:30])
    assert peak[0] == 3


def test_empty_list_sends_nothing():
    rec = Recorder()
    assert qianfan(rec).embed_texts([]) == [] and asyncio.run(qianfan(rec).aembed_texts([])) == []
    assert rec.bodies == []


def test_retries_transient_errors_then_succeeds():
    answers = [httpx.Response(429, json={"error": {"code": "rpm_rate_limit_exceeded", "message": "m"}}),
               httpx.Response(500, json={"error": {"code": "internal_error", "message": "m"}})]
    rec = Recorder(fail=lambda n, body: answers[n] if n < 2 else None)
    client = qianfan(rec)
    assert client.embed_texts(["t-7"]) == [[7.0]]
    assert (client.usage.requests, client.usage.retries) == (3, 2)


def test_never_retries_auth_and_reports_the_vendor_error():
    rec = Recorder(fail=lambda n, body: httpx.Response(401, json={"error": {"code": "invalid_iam_token",
                                                                            "message": "IAM failed"}, "id": "as-9"}))
    with pytest.raises(AuthenticationError) as info:
        qianfan(rec).embed_texts(["t-1"])
    assert len(rec.bodies) == 1
    assert "invalid_iam_token" in str(info.value) and "as-9" in str(info.value)


def test_retry_budget_is_respected_and_error_names_the_batch():
    rec = Recorder(fail=lambda n, body: httpx.Response(503, json={"error": {"code": "internal_error", "message": "m"}})
                   if "t-20" in body["input"] else None)
    with pytest.raises(Exception) as info:
        qianfan(rec, max_retries=2, max_concurrency=1).embed_texts(TEXTS[:40])
    err = info.value
    assert err.failed == list(range(16, 32)) and err.attempts == 3
    assert err.embedded == list(range(16)) and err.not_embedded == list(range(16, 40))
    assert "16-31" in str(err) and "after 3 attempts" in str(err)
    assert sum(1 for b in rec.bodies if "t-20" in b["input"]) == 3


def test_connection_errors_are_retried_then_typed():
    calls = [0]

    def drop(request):
        calls[0] += 1
        raise httpx.RemoteProtocolError("server disconnected", request=request)

    client = QianfanClient(api_key="k", zero_waits=True, max_retries=1,
                           http_client=httpx.Client(transport=httpx.MockTransport(drop)))
    with pytest.raises(APIConnectionError):
        client.embed_texts(["a"])
    assert calls[0] == 2


def test_retry_after_is_honoured(monkeypatch):
    sleeps = []
    monkeypatch.setattr("cn_embeddings._flow._pause", lambda seconds, stop, drain=None: sleeps.append(seconds))
    answer = httpx.Response(429, headers={"Retry-After": "1.5"}, json={"error": {"code": "rpm_rate_limit_exceeded",
                                                                                 "message": "m"}})
    rec = Recorder(fail=lambda n, body: answer if n == 0 else None)
    QianfanClient(api_key="k", requests_per_second=0,
                  http_client=httpx.Client(transport=httpx.MockTransport(rec))).embed_texts(["t-1"])
    assert sleeps == [1.5]


def test_backoff_and_retry_after_parsing():
    assert 0.375 <= backoff_seconds(0, None) <= 0.5 and 6 <= backoff_seconds(5, None) <= 8
    assert backoff_seconds(2, 3.0) == 3.0 and backoff_seconds(0, 120.0) <= 0.5  # over 60 s is ignored
    assert parse_retry_after("2") == 2.0 and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_limiter_spaces_requests_and_adapts():
    now = [0.0]
    limiter = RateLimiter(10, clock=lambda: now[0])
    waits = [limiter.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])

    def answers(throttled_every: int | None, per_second: float, n: int = 20) -> None:
        for i in range(n):
            now[0] += 1 / per_second
            limiter.record(throttled=throttled_every is not None and i % throttled_every == 0)

    answers(10, 10, 200)  # 10% throttled: stray answers do not lower the rate
    assert limiter.rate == 10
    limiter = RateLimiter(10, clock=lambda: now[0])
    answers(2, 10, 40)  # half refused, two windows running: the vendor admitted 5/s, so go to 90% of that
    assert limiter.rate == pytest.approx(4.5, rel=0.06)
    answers(None, 4.5, 20 * 3)  # clean windows: stay under what the vendor admitted
    assert limiter.rate == pytest.approx(4.5, rel=0.06)
    answers(None, 4.5, 20 * 10)  # ten clean windows at the cap: probe upwards, never past the ceiling
    answers(None, 4.5, 20 * 20)
    assert limiter.rate == 10
    unlimited = RateLimiter(None, clock=lambda: now[0])
    for _ in range(20):
        now[0] += 0.01
        assert unlimited.reserve() == 0.0
    for i in range(40):
        now[0] += 0.01
        unlimited.record(throttled=i % 4 != 0)  # a quarter admitted at 100/s -> 25/s
    assert unlimited.rate == pytest.approx(0.9 * 5 / 0.19, rel=0.01)


def test_tencent_limiter_defaults_to_the_documented_quota():
    client = TencentCloudClient("WeCLIPv2-Base", secret_id="i", secret_key="k")
    assert client.limiter.rate == 10 and TencentCloudClient("bge-m3", secret_id="i", secret_key="k").limiter.rate == 20
    assert ArkClient(api_key="k").limiter.rate is None
    assert TencentCloudClient(secret_id="i", secret_key="k", requests_per_second=0).limiter.rate is None


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
    assert ArkClient()._auth._api_key.get() == "from-env"


def test_user_http_client_is_still_authenticated_and_default_headers_apply():
    seen = []

    def handler(request):
        seen.append(request.headers)
        return httpx.Response(200, json={"data": {"embedding": [1.0, 0.0]}})

    client = ArkClient(api_key="ark-test", encoding_format="float", default_headers={"X-Team": "search"},
                       http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    client.embed_texts(["x"])
    assert seen[0]["Authorization"] == "Bearer ark-test" and seen[0]["X-Team"] == "search"


@pytest.mark.parametrize("inputs,match", [
    (["ok", ""], "input 1: text is empty"),
    (["ok", "   "], "input 1: text is empty"),
    (["ok", None], "input 1: text must be str"),
    ([3], "input 0: text must be str"),
    (["x" * 1001], "input 0: text has 1001 characters; embedding-v1 accepts at most 1000"),
    ([{"image": "ftp://host/a.png"}], "unsupported URL scheme ftp"),
])
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

    client = QianfanClient(api_key="k", batch_size=1,
                           http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(never)))

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


def _simulate(limiter, refuse, answers: int, unconfigured_rate: float = 36.0) -> list[float]:
    """Send at the limiter's rate on a fake clock; ``refuse(now)`` says whether an answer is a
    quota refusal. Returns the rate after every answer."""
    now = [0.0]
    limiter._clock = lambda: now[0]
    rates = []
    for _ in range(answers):
        now[0] += 1 / (limiter.rate or unconfigured_rate)
        limiter.reserve()
        limiter.record(throttled=refuse(now[0]))
        rates.append(limiter.rate or unconfigured_rate)
    return rates


def _admitted_per_second(quota: int):
    """A vendor quota: at most ``quota`` requests admitted in any rolling second."""
    admitted: list[float] = []

    def refuse(now: float) -> bool:
        if sum(1 for t in admitted if now - t < 1.0) >= quota:
            return True
        admitted.append(now)
        return False
    return refuse


@pytest.mark.parametrize("ceiling", [36.0, None])  # a configured rate, and none (Ark)
def test_random_refusals_do_not_wear_the_rate_down(ceiling):
    """20% of answers refused at random, whatever the rate: over 3,000 answers and ten seeds the
    mean rate stays at 85% of the full rate or more, and no seed falls below 75% (the limiter
    before this one sank to its floor, a 60% bound was the best the one after it held)."""
    import random

    means = []
    for seed in range(10):
        rng = random.Random(seed)
        rates = _simulate(RateLimiter(ceiling), lambda now: rng.random() < 0.2, 3000)
        means.append(sum(rates) / len(rates))
    assert min(means) >= 0.75 * 36 and sum(means) / len(means) >= 0.85 * 36, means


@pytest.mark.parametrize("ceiling", [36.0, None])
@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_a_real_quota_is_still_found_and_held_just_under(ceiling, noise):
    """A quota of 10/s, alone and under 20% random refusals on top: the rate settles within
    [7, 10.5] and, random ones aside, at most 6% of answers are refused for quota."""
    import random

    rng = random.Random(3)
    quota = _admitted_per_second(10)
    refused: list[bool] = []

    def refuse(now: float) -> bool:
        over = quota(now)
        refused.append(over)
        return over or rng.random() < noise

    rates = _simulate(RateLimiter(ceiling), refuse, 4000)
    settled = sorted(rates[-1000:])[500]
    assert 7 <= settled <= 10.5, settled
    assert sum(refused[-1000:]) / 1000 <= 0.06


@pytest.mark.parametrize("ceiling", [36.0, None])
def test_a_quota_that_counts_refused_requests_is_held_under(ceiling):
    """Above such a quota almost nothing passes, so what leaked through measures nothing: the
    limiter goes back under its last clean rate instead. Unconfigured, it used to settle near
    4/s (0.5 to 10/s) for a 10/s quota; now over the last 2,000 answers the median rate is 8 to
    10.5 and under 3% of answers are refused."""
    sent: list[float] = []
    refused: list[bool] = []

    def over_quota(now: float) -> bool:  # 10 per rolling second, refused requests counted too
        recent = [t for t in sent if now - t < 1.0]
        sent.append(now)
        refused.append(len(recent) >= 10)
        return refused[-1]

    rates = _simulate(RateLimiter(ceiling), over_quota, 6000)
    settled = sorted(rates[-2000:])[1000]
    assert 8 <= settled <= 10.5, settled
    assert sum(refused[-2000:]) / 2000 < 0.03, sum(refused[-2000:])


@pytest.mark.parametrize("ceiling, within", [(20.0, 10.0), (None, 35.0)])
def test_recovers_within_seconds_once_an_outage_ends(ceiling, within):
    """30 s of every answer refused sends the limiter to its floor; once answers come back it
    doubles per clean window, back to 85% of the rate it had in ``within`` seconds."""
    limiter = RateLimiter(ceiling)
    now = [0.0]
    limiter._clock = lambda: now[0]
    while now[0] < 30:
        now[0] += 1 / (limiter.rate or 36.0)
        limiter.reserve()
        limiter.record(throttled=True)
    assert limiter.rate == (ceiling * 0.25 if ceiling else 0.5)
    ended = now[0]
    while (limiter.rate or 36.0) < 0.85 * (ceiling or 36.0):
        now[0] += 1 / (limiter.rate or 36.0)
        limiter.reserve()
        limiter.record(throttled=False)
        assert now[0] - ended < within


def test_overload_refusals_never_slow_the_limiter_and_the_floor_holds():
    limiter = RateLimiter(20.0)
    for _ in range(200):
        limiter.record(throttled=True, overload=True)
    assert limiter.rate == 20.0
    _simulate(limiter, lambda now: True, 400)  # everything refused for quota
    assert limiter.rate == pytest.approx(5.0)  # a quarter of the configured rate: calls keep moving
    rates = _simulate(limiter, lambda now: False, 800)
    assert rates[-1] == 20.0  # and it climbs back once refusals stop
