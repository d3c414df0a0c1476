"""LlamaIndex's ``rate_limiter``, both ways: a user's limiter asked once per request, and
``QuotaRateLimiter`` drawing on one quota with the embedding classes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from llama_index.core.rate_limiter import BaseRateLimiter

from cn_embeddings import ConfigurationError
from llama_index_cn_embeddings import QianfanEmbedding, QuotaRateLimiter
from tests._servers import credentials

ROOT = Path(__file__).resolve().parents[2]


class Recording(BaseRateLimiter):
    """A user's limiter that lets everything through and writes down what it was asked."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        self.lock = threading.Lock()

    def acquire(self, num_tokens: int = 0) -> None:
        with self.lock:
            self.asked.append(num_tokens)

    async def async_acquire(self, num_tokens: int = 0) -> None:
        self.acquire(num_tokens)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_users_limiter_is_asked_once_per_request_with_its_tokens(emu, mode):
    limiter = Recording()
    emb = QianfanEmbedding(model_name="embedding-v1", **credentials("qianfan"), rate_limiter=limiter)
    texts = [f"第 {i} 段 text number {i}" for i in range(100)]  # one LlamaIndex batch, seven requests
    if mode == "sync":
        vectors = emb.get_text_embedding_batch(texts)
    else:
        vectors = asyncio.run(emb.aget_text_embedding_batch(texts))
    assert len(vectors) == 100
    requests = len(emu.seen)
    assert requests == 7 and len(limiter.asked) == requests  # per request, not once for the batch
    assert sum(limiter.asked) >= sum(len(t) for t in texts)  # each with its request's token estimate
    assert emb.rate_limiter.limiter is limiter and emb.client.gate is limiter
    assert emb.client.controller.adaptive is False  # one pacing: the user's limiter
    emb.get_query_embedding("问题")
    assert len(limiter.asked) == requests + 1


def test_a_limiter_set_later_is_asked_too_and_two_pacings_are_refused(emu):
    emb = QianfanEmbedding(model_name="embedding-v1", **credentials("qianfan"))
    limiter = Recording()
    emb.rate_limiter = limiter
    emb.get_text_embedding("一段文本")
    assert limiter.asked and emb.rate_limiter.limiter is limiter
    with pytest.raises(ConfigurationError, match="give one"):
        QianfanEmbedding(
            model_name="embedding-v1", **credentials("qianfan"), rate_limiter=Recording(), requests_per_second=5
        )


def _rate(stamps: list[float]) -> float:
    """Acquisitions per second after the first few (the start's burst left out)."""
    stamps = sorted(stamps)[10:]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def test_two_quota_limiters_draw_on_one_budget_in_a_process():
    options = {"vendor": "qianfan", "model": "embedding-v1", "requests_per_second": 10, **credentials("qianfan")}
    first, second = QuotaRateLimiter(**options), QuotaRateLimiter(**options)
    assert first.controller is second.controller
    stamps: list[float] = []

    def take(limiter: QuotaRateLimiter) -> None:
        for _ in range(20):
            limiter.acquire(10)
            stamps.append(time.monotonic())

    threads = [threading.Thread(target=take, args=(limiter,)) for limiter in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _rate(stamps) == pytest.approx(10, rel=0.2)  # together at the quota, not 10/s each
    emb = QianfanEmbedding(model_name="embedding-v1", **credentials("qianfan"), requests_per_second=10)
    assert emb.client.controller is first.controller  # the embedding class paces on the same quota


CHILD = """
import json, sys, time
from llama_index_cn_embeddings import QuotaRateLimiter
limiter = QuotaRateLimiter(vendor="qianfan", model="embedding-v1", quota_url=sys.argv[1], requests_per_second=10,
                           **json.loads(sys.argv[2]))
stamps = []
for _ in range(20):
    limiter.acquire(5)
    stamps.append(time.time())
print(json.dumps(stamps))
"""


def test_quota_limiters_in_two_processes_share_one_budget_through_redis(redis_url):
    settings = credentials("qianfan")
    settings.pop("http_client", None)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, redis_url, json.dumps(settings)], env=env, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    stamps = [stamp for proc in procs for stamp in json.loads(proc.communicate(timeout=120)[0])]
    assert all(proc.returncode == 0 for proc in procs)
    assert _rate(stamps) == pytest.approx(10, rel=0.25)  # the two processes at one quota's pace
