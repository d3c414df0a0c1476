"""One quota across processes in a real Redis (started by the ``redis_url`` fixture)."""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import time

import pytest

from cn_embeddings import ConfigurationError, QianfanClient
from cn_embeddings._ratecontrol._store import RedisStore
from cn_embeddings.testing import Faults


def _embed_in_a_process(settings: dict, quota_url: str | None, texts: list[str], queue) -> None:
    client = QianfanClient(
        "embedding-v1",
        **settings,
        requests_per_second=10,
        quota_url=quota_url,
        batch_size=1,
        max_concurrency=4,
        max_retries=8,
    )
    started = time.perf_counter()
    client.embed_texts(texts)
    queue.put((time.perf_counter() - started, client.usage.requests, client.usage.retries))


def run_three(emulator, quota_url, n=30):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_embed_in_a_process,
            args=(emulator.settings("qianfan"), quota_url, [f"p{p} t{i}" for i in range(n)], queue),
        )
        for p in range(3)
    ]
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


def test_processes_draw_send_times_from_one_gcra_schedule(redis_url):
    """Two handles (as two processes) claim send times 0.1 s apart from one schedule in Redis."""
    key = ("qianfan", "host", "account", "model-gcra")
    one, other = RedisStore(redis_url, key), RedisStore(redis_url, key)
    waits = [(one if i % 2 else other).reserve(0.1, 0.0) for i in range(10)]
    assert all(w is not None for w in waits)
    assert waits == pytest.approx([0.1 * i for i in range(10)], abs=0.03)


def test_a_token_schedule_holds_requests_by_their_cost(redis_url):
    store = RedisStore(redis_url, ("ark", "h", "a", "tokens"))
    assert store.reserve(0.0, 0.5) == pytest.approx(0.0, abs=0.02)  # due now; the next one waits its cost
    assert store.reserve(0.0, 0.5) == pytest.approx(0.5, abs=0.03)


async def test_async_calls_reserve_without_blocking_their_loop(redis_url):
    store = RedisStore(redis_url, ("ark", "h", "a", "async"))
    waits = [await store.areserve(0.2, 0.0) for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.2, 0.4], abs=0.03)


@pytest.mark.slow  # runs against the wall clock
def test_when_redis_is_gone_the_local_limiter_takes_over_and_says_so_once(emu, caplog):
    client = emu.client("qianfan", quota_url="redis://127.0.0.1:1/0", requests_per_second=50)
    with caplog.at_level(logging.WARNING, logger="cn_embeddings"):
        started = time.perf_counter()
        assert (
            len(
                client.embed_texts(
                    [f"t{i}" for i in range(64)],
                )
            )
            == 64
        )
        client.embed_texts(["again"])
    assert time.perf_counter() - started < 10
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1 and "127.0.0.1:1" in warnings[0].getMessage()


def test_quota_url_is_configuration_without_a_secret(emu, redis_url, monkeypatch):
    with pytest.raises(ConfigurationError, match="must not hold a password"):
        emu.client("qianfan", quota_url="redis://:hunter2hunter2@127.0.0.1:6379/0", requests_per_second=5)
    for url in ("redis://127.0.0.1:6379/0?password=hunter2hunter2", "rediss://h:6379/0?auth=x&ssl=1"):
        with pytest.raises(ConfigurationError, match="must not hold a password"):
            emu.client("qianfan", quota_url=url)
    with pytest.raises(ConfigurationError, match="redis://"):
        emu.client("qianfan", quota_url="http://127.0.0.1", requests_per_second=5)
    monkeypatch.setenv("CN_EMBEDDINGS_QUOTA_URL", redis_url)
    client = emu.client("qianfan", requests_per_second=5)
    assert isinstance(client.controller.store, RedisStore) and client.options.quota_url == redis_url
    copy = pickle.loads(pickle.dumps(client))
    assert copy.controller is client.controller  # the same quota handle in the same process


def test_quota_url_reaches_both_frameworks_init_embeddings_and_the_cli(emu, redis_url):
    from cn_embeddings.cli import build_parser
    from langchain_cn_embeddings import QianfanEmbeddings
    from llama_index_cn_embeddings import QianfanEmbedding

    lc = QianfanEmbeddings(model="embedding-v1", **emu.settings("qianfan"), quota_url=redis_url, requests_per_second=5)
    li = QianfanEmbedding(
        model_name="embedding-v1", **emu.settings("qianfan"), quota_url=redis_url, requests_per_second=5
    )
    assert lc.client.controller is li.client.controller and isinstance(lc.client.controller.store, RedisStore)
    assert lc.embed_query("hi") == li.get_query_embedding("hi")
    args = build_parser().parse_args(
        [
            "embed",
            "--provider",
            "qianfan",
            "--text",
            "x",
            "--output",
            "-",
            "--quota-url",
            redis_url,
            "--tokens-per-minute",
            "1000",
        ]
    )
    assert args.quota_url == redis_url and args.tokens_per_minute == 1000
