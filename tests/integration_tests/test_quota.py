"""One quota across processes in a real Redis (started by the ``redis_url`` fixture)."""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import time

import pytest

from cn_embeddings import ConfigurationError, QianfanClient
from cn_embeddings._quota import SharedQuota
from cn_embeddings._ratelimit import RateLimiter
from cn_embeddings.testing import Faults


def _embed_in_a_process(settings: dict, quota_url: str | None, texts: list[str], queue) -> None:
    client = QianfanClient("embedding-v1", **settings, requests_per_second=10, quota_url=quota_url, batch_size=1,
                           max_concurrency=4, max_retries=8)
    started = time.perf_counter()
    client.embed_texts(texts)
    queue.put((time.perf_counter() - started, client.usage.requests, client.usage.retries))


def run_three(emulator, quota_url, n=30):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_embed_in_a_process,
                         args=(emulator.settings("qianfan"), quota_url, [f"p{p} t{i}" for i in range(n)], queue))
             for p in range(3)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return results


def test_three_processes_share_one_quota_and_are_not_throttled(emu, redis_url):
    emu.faults = Faults(qps=10)
    shared = run_three(emu, redis_url)
    throttled = sum(1 for s in emu.seen if not s.ok)
    assert sum(r[1] for r in shared) == 90 + throttled
    assert throttled <= 1, throttled  # at most 1% of the requests
    elapsed = max(r[0] for r in shared)
    assert elapsed >= 90 / 10 * 0.8  # the three together kept to about 10/s
    emu.reset()
    alone = run_three(emu, None)  # side by side: without quota_url each process takes 10/s for itself
    assert sum(1 for s in emu.seen if not s.ok) > 10 * throttled + 5, [r[2] for r in alone]


def test_throttling_seen_by_one_process_slows_the_others(redis_url):
    key = ("qianfan", "host", "account", "model-slow")
    one = SharedQuota(redis_url, key, 20.0, None)
    other = SharedQuota(redis_url, key, 20.0, None)
    other.local = RateLimiter(20.0)  # as in another process
    for _ in range(40):  # two windows of refusals
        one.record(throttled=True)
    assert one.local.rate is not None and one.local.rate < 20
    other.admit()
    assert other.rate == pytest.approx(one.local.rate)
    assert other._window()[0] < 20


def test_a_token_budget_holds_requests_once_spent(redis_url):
    quota = SharedQuota(redis_url, ("ark", "h", "a", "tokens"), 100.0, 50)
    assert quota.admit() == 0.0
    quota.record(throttled=False, tokens=60)
    assert 0 < quota.admit() <= 60


def test_when_redis_is_gone_the_local_limiter_takes_over_and_says_so_once(emu, caplog):
    client = emu.client("qianfan", quota_url="redis://127.0.0.1:1/0", requests_per_second=50)
    with caplog.at_level(logging.WARNING, logger="cn_embeddings"):
        started = time.perf_counter()
        assert len(client.embed_texts([f"t{i}" for i in range(64)], )) == 64
        client.embed_texts(["again"])
    assert time.perf_counter() - started < 10
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1 and "127.0.0.1:1" in warnings[0].getMessage()


def test_quota_url_is_configuration_without_a_secret(emu, redis_url, monkeypatch):
    with pytest.raises(ConfigurationError, match="must not hold a password"):
        emu.client("qianfan", quota_url="redis://:hunter2hunter2@127.0.0.1:6379/0", requests_per_second=5)
    with pytest.raises(ConfigurationError, match="needs a rate"):
        emu.client("qianfan", quota_url=redis_url)
    with pytest.raises(ConfigurationError, match="redis://"):
        emu.client("qianfan", quota_url="http://127.0.0.1", requests_per_second=5)
    monkeypatch.setenv("CN_EMBEDDINGS_QUOTA_URL", redis_url)
    client = emu.client("qianfan", requests_per_second=5)
    assert isinstance(client.limiter, SharedQuota) and client.transport.quota_url == redis_url
    copy = pickle.loads(pickle.dumps(client))
    assert copy.limiter is client.limiter  # the same quota handle in the same process


def test_quota_url_reaches_both_frameworks_init_embeddings_and_the_cli(emu, redis_url):
    from cn_embeddings.cli import build_parser
    from langchain_cn_embeddings import QianfanEmbeddings
    from llama_index_cn_embeddings import QianfanEmbedding

    lc = QianfanEmbeddings(model="embedding-v1", **emu.settings("qianfan"), quota_url=redis_url,
                           requests_per_second=5)
    li = QianfanEmbedding(model_name="embedding-v1", **emu.settings("qianfan"), quota_url=redis_url,
                          requests_per_second=5)
    assert lc.client.limiter is li.client.limiter and isinstance(lc.client.limiter, SharedQuota)
    assert lc.embed_query("hi") == li.get_query_embedding("hi")
    args = build_parser().parse_args(["embed", "--provider", "qianfan", "--text", "x", "--output", "-",
                                      "--quota-url", redis_url, "--tokens-per-minute", "1000"])
    assert args.quota_url == redis_url and args.tokens_per_minute == 1000
