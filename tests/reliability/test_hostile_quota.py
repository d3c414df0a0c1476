"""Rate-limit headers and remembered rates are untrusted input: hostile values are ignored, never
raised on, and never raise a configured quota; a planted or damaged cache file never breaks, hangs
or redirects a client."""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import httpx
import pytest

from cn_embeddings import QianfanClient
from cn_embeddings._ratecontrol import Quota, RateController, Source, resolve
from cn_embeddings._ratecontrol._memory import FileMemory
from cn_embeddings._ratecontrol._resolve import MAX_RATE

HOSTILE_HEADERS = [
    {"RateLimit-Policy": "1e308;w=1e-10"},
    {"RateLimit-Policy": '"b";q=1e300;w=1e-300'},
    {"RateLimit-Policy": "10;w=1e-320"},
    {"RateLimit-Policy": "1;w=86400"},
    {"X-Ratelimit-Limit-Tokens": "6e9"},
    {"X-Ratelimit-Limit-Tokens": "1e-300"},
    {"X-Ratelimit-Limit-Requests": "1e400"},
    {"X-Ratelimit-Limit-Requests": "nan"},
    {"X-Ratelimit-Limit-Requests": "-5"},
]


def _answer(headers: dict[str, str]):
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"data": [{"object": "embedding", "embedding": [0.1, 0.2], "index": 0}], "usage": {"total_tokens": 3}}
        return httpx.Response(200, json=body, headers=headers)

    return handler


@pytest.mark.parametrize("headers", HOSTILE_HEADERS, ids=lambda h: ";".join(f"{k}={v}" for k, v in h.items()))
def test_hostile_rate_limit_headers_leave_the_calls_and_the_pacing_alone(headers):
    transport = httpx.MockTransport(_answer(headers))
    client = QianfanClient(
        api_key="k" * 8, requests_per_second=5, tokens_per_minute=6000, remember_quota=False,
        http_client=httpx.Client(transport=transport),
    )  # fmt: skip
    assert len(client.embed_texts(["a"])) == 1
    assert len(client.embed_texts(["b"])) == 1  # the next call too: the controller is not broken
    stats = client.controller.stats()
    assert stats.rate == 5 and stats.token_rate == pytest.approx(100.0)  # nothing raised a configured quota
    assert stats.source is Source.CONFIGURED


def test_a_told_token_quota_never_raises_a_configured_one():
    controller = RateController(Quota(5.0, 6000, origin=Source.CONFIGURED))
    controller.tell(Quota(None, 6e8, origin=Source.TOLD), 0.0)
    assert controller.token_rate == pytest.approx(100.0)
    controller.tell(Quota(None, 3000, origin=Source.TOLD), 0.0)
    assert controller.token_rate == pytest.approx(50.0)  # lowered: yes


@pytest.mark.parametrize("rate", ["1e12", "1e308", "Infinity", "1e400", "-3", "0", '"fast"', "true", "null"])
def test_a_remembered_rate_out_of_bounds_is_dropped(tmp_path, rate, caplog):
    key = ("ark", "host", "acct", "doubao-embedding-vision")
    entry = '{"rate": ' + rate + ', "at": ' + repr(time.time()) + "}"  # JSON text: some are no Python float
    (tmp_path / "quotas.json").write_text('{"ark/host/acct/doubao-embedding-vision": ' + entry + "}")
    memory = FileMemory(key, tmp_path)
    recalled = memory.recall()
    assert recalled is None
    start = resolve(Quota(250.0, exact=False), remembered=recalled)
    assert start is not None and start.origin is Source.DOCUMENTED
    memory.keep(7.0)  # a garbage entry never stops a later save
    assert memory.recall() == 7.0


def test_a_remembered_rate_in_redis_out_of_bounds_is_dropped(redis_url):
    import redis

    from cn_embeddings._ratecontrol._store import RedisStore

    store = RedisStore(redis_url, ("qianfan", "h", "a", "m"))
    for value in ("1e308", "inf", "nan", "-1", "garbage", repr(MAX_RATE * 10)):
        redis.Redis.from_url(redis_url).set(store._keys[2], value)
        assert store.recall() is None, value
    store.keep(12.0)
    assert store.recall() == 12.0


@pytest.mark.parametrize("planted", ["fifo", "dev-zero", "nested", "symlink", "huge"])
def test_a_planted_cache_file_never_breaks_or_hangs_a_client(tmp_path, monkeypatch, planted, caplog):
    monkeypatch.setenv("CN_EMBEDDINGS_CACHE_DIR", str(tmp_path))
    path = tmp_path / "quotas.json"
    if planted == "fifo":
        os.mkfifo(path)
    elif planted == "dev-zero":
        path.symlink_to("/dev/zero")
    elif planted == "nested":
        path.write_text("[" * 100_000 + "]" * 100_000)
    elif planted == "symlink":
        target = tmp_path / "elsewhere.json"
        target.write_text(json.dumps({"qianfan/h/a/m": {"rate": 5.0, "at": time.time()}}))
        path.symlink_to(target)
    else:
        path.write_bytes(b" " * (1024 * 1024))
    done: list[float | None] = []
    reader = threading.Thread(target=lambda: done.append(FileMemory(("qianfan", "h", "a", "m")).recall()))
    with caplog.at_level(logging.WARNING, logger="cn_embeddings"):
        reader.start()
        reader.join(5)
    assert done == [None]  # answered at once, with nothing remembered
    assert any("ignored the remembered quotas" in r.getMessage() for r in caplog.records)


def test_a_symlinked_lock_is_not_followed(tmp_path):
    target = tmp_path / "victim"
    (tmp_path / "quotas.lock").symlink_to(target)
    FileMemory(("qianfan", "h", "a", "m"), tmp_path).keep(5.0)
    assert not target.exists()  # nothing created through the link (and the rate simply not kept)
