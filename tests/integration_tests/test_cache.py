"""The cache keyed by the embedding space, against the emulator: what is paid once, and what is not."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cn_embeddings import AuthenticationError
from cn_embeddings._cache import _reuse
from tests._servers import credentials

ROOT = Path(__file__).resolve().parents[2]
ARK = "doubao-embedding-vision-250615"


def texts_sent(emu) -> list[str]:
    """Every text the emulator received, in arrival order (Qianfan's and Ark's bodies)."""
    out: list[str] = []
    for seen in emu.seen:
        for part in seen.body.get("input", []):
            out.append(part if isinstance(part, str) else part.get("text"))
    return out


@pytest.fixture
def fresh_memory():
    """Each test gets an empty process-wide memory cache (clients naming 'memory' share one)."""
    from cn_embeddings import _cache

    _cache._OPEN.clear()
    yield
    _cache._OPEN.clear()
    assert not _reuse._FLIGHTS, "a call left a flight unresolved"


def test_a_repeat_within_a_call_is_sent_once_and_gets_the_same_vector(emu, fresh_memory):
    plain = emu.client("qianfan", "embedding-v1", requests_per_second=0)
    texts = ["甲 text", "乙 text", "甲 text", "丙", "乙 text", "甲 text"]
    expected = plain.embed_texts(texts)
    emu.reset()
    cached = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache="memory")
    result = cached.embed(texts)
    assert result.vectors == expected
    assert sorted(texts_sent(emu)) == ["丙", "乙 text", "甲 text"]
    assert (result.usage.cache_hits, result.usage.cache_misses) == (0, 6)


def test_a_second_call_costs_no_request_and_counts_hits_in_progress(emu, fresh_memory):
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache="memory")
    first = client.embed_texts([f"doc {i}" for i in range(30)])
    emu.reset()
    ticks: list[tuple[int, int]] = []
    again = client.embed([f"doc {i}" for i in range(30)] + ["new"], on_progress=lambda d, t: ticks.append((d, t)))
    assert again.vectors[:30] == first
    assert texts_sent(emu) == ["new"]
    assert again.usage.cache_hits == 30 and again.usage.requests == 1
    assert ticks[-1] == (31, 31)
    assert client.cache_stats["hits"] >= 30


def test_a_new_client_in_the_same_process_finds_what_another_paid_for(emu, fresh_memory):
    emu.client("qianfan", "embedding-v1", requests_per_second=0, cache="memory").embed_texts(["shared"])
    emu.reset()
    emu.client("qianfan", "embedding-v1", requests_per_second=0, cache="memory").embed_texts(["shared"])
    assert not emu.seen


SECOND_PROCESS = """
import json, sys
from tests._servers import credentials
from cn_embeddings import QianfanClient
client = QianfanClient("embedding-v1", cache=sys.argv[1], requests_per_second=0, **json.loads(sys.argv[2]))
result = client.embed(["across processes", "another"])
print(json.dumps({"vectors": result.vectors, "hits": result.usage.cache_hits, "requests": result.usage.requests}))
"""


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_a_repeat_across_processes_is_free(emu, fresh_memory, tmp_path, kind, request):
    where = str(tmp_path / "vectors.sqlite") if kind == "file" else request.getfixturevalue("redis_url")
    settings = credentials("qianfan")
    settings.pop("http_client", None)

    def run() -> dict:
        done = subprocess.run(
            [sys.executable, "-c", SECOND_PROCESS, where, json.dumps(settings)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)

    first = run()
    emu.reset()
    second = run()
    assert second["vectors"] == first["vectors"] and second["hits"] == 2 and second["requests"] == 0
    assert not emu.seen
    if kind == "file":
        assert sqlite3.connect(where).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_change_of_space_is_a_miss(emu, fresh_memory):
    base = {"requests_per_second": 0, "cache": "memory"}
    variants = [
        {},
        {"dimensions": 1024},
        {"instructions": "Target_modality: text. Instruction: other"},
        {"extra_body": {"user": "someone"}},
    ]
    spaces = set()
    for options in variants:
        client = emu.client("ark", ARK, **base, **options)
        emu.reset()
        client.embed_texts(["the same text"])
        assert len(emu.seen) == 1, f"{options} reused another setting's vector"
        spaces.add(client.space.id)
    assert len(spaces) == 2  # instructions and extra fields change the key, not the space
    emu.reset()
    emu.client("ark", "doubao-embedding-text-240715", **base).embed_texts(["the same text"])
    assert len(emu.seen) == 1


def test_the_space_names_what_makes_vectors_comparable(emu):
    client = emu.client("ark", ARK, dimensions=1024, requests_per_second=0)
    said = client.space.describe()
    assert said["vendor"] == "ark" and said["model"] == ARK and said["dimensions"] == 1024
    assert said["api"] == "multimodal" and said["long_inputs"] == "error" and said["id"] == client.space.id
    assert client.for_queries().space == client.space
    assert emu.client("ark", ARK, dimensions=1024, requests_per_second=0).space.id == client.space.id
    assert emu.client("ark", ARK, dimensions=2048, requests_per_second=0).space.id != client.space.id


@pytest.mark.parametrize("framework", ["langchain", "llama_index"])
def test_a_query_and_a_document_of_one_text_each_get_their_own_vector(emu, fresh_memory, framework):
    if framework == "langchain":
        from langchain_cn_embeddings import ArkEmbeddings as Ark

        def run(emb):
            return emb.embed_documents(["一段文本"])[0], emb.embed_query("一段文本")
    else:
        from llama_index_cn_embeddings import ArkEmbedding as Ark

        def run(emb):
            return emb.get_text_embedding("一段文本"), emb.get_query_embedding("一段文本")

    fields = {"instructions": "DOC", "query_instructions": "QUERY", "requests_per_second": 0}
    model = {"model": ARK} if framework == "langchain" else {"model_name": ARK}
    plain = run(Ark(**model, **credentials("ark"), **fields))
    cached = Ark(**model, **credentials("ark"), **fields, cache="memory")
    emu.reset()
    assert run(cached) == plain
    # the query was sent with its own instructions, not answered with the document's vector
    assert [s.body.get("instructions") for s in emu.seen] == ["DOC", "QUERY"]
    emu.reset()
    assert run(cached) == plain  # both from the cache now, each its own
    assert not emu.seen
    assert cached.space.id == cached.client.space.id


def test_five_concurrent_async_calls_send_each_input_once(emu, fresh_memory):
    emu.faults.latency_ms = 50
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache="memory")
    texts = [f"together {i}" for i in range(40)]

    async def five():
        return await asyncio.gather(*(client.aembed_texts(texts) for _ in range(5)))

    results = asyncio.run(five())
    assert all(r == results[0] for r in results)
    assert sorted(texts_sent(emu)) == sorted(texts)


def test_a_waiting_call_sends_what_the_sending_call_failed_to_get(emu, fresh_memory):
    """Single flight never turns another call's failure into this call's: it sends itself."""
    emu.faults.latency_ms = 100
    emu.faults.script("auth", count=1)
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache="memory", max_retries=0)

    async def two():
        first = asyncio.ensure_future(client.aembed_texts(["contested"]))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(client.aembed_texts(["contested"]))
        return await asyncio.gather(first, second, return_exceptions=True)

    first, second = asyncio.run(two())
    assert isinstance(first, AuthenticationError)
    assert isinstance(second, list) and len(second[0]) > 0
    assert texts_sent(emu) == ["contested", "contested"]


def test_a_failed_call_hands_back_what_the_cache_and_the_answers_gave(emu, fresh_memory):
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache="memory", batch_size=2, max_retries=0)
    client.embed_texts(["known"])
    emu.faults.script("auth", after=1, count=5)
    with pytest.raises(AuthenticationError) as caught:
        client.embed(
            ["known", "a", "b", "c", "d"],
        )
    record = caught.value.record
    assert 0 in record.embedded and 0 in record.partial_vectors
    assert set(record.embedded) | set(record.not_embedded) == set(range(5))
    assert record.not_embedded  # the failed request's inputs are named


# -- faults: a cache that fails never fails a call ------------------------------------------------------


def test_a_corrupt_file_is_set_aside_and_rebuilt(emu, fresh_memory, tmp_path):
    path = tmp_path / "vectors.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache=str(path))
    client.embed_texts(["after the damage"])
    emu.reset()
    client.embed_texts(["after the damage"])
    assert not emu.seen
    assert [p.name.split(".corrupt-")[0] for p in tmp_path.glob("vectors.sqlite.corrupt-*")] == ["vectors.sqlite"]


def test_a_file_damaged_while_in_use_is_rebuilt(emu, fresh_memory, tmp_path):
    from cn_embeddings._cache import SQLiteCache

    path = tmp_path / "vectors.sqlite"
    store = SQLiteCache(path)
    store.put_many([(b"k" * 32, b"v")])
    path.write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    fresh = SQLiteCache(path)
    assert fresh.get_many([b"k" * 32]) == [None]
    fresh.put_many([(b"k" * 32, b"v2")])
    assert fresh.get_many([b"k" * 32]) == [b"v2"]


class Broken:
    """A cache whose disk is full, or whose server went away, half-way."""

    def __init__(self, fail_get: bool, fail_put: bool) -> None:
        self.fail_get, self.fail_put, self.calls = fail_get, fail_put, 0

    def get_many(self, keys):
        self.calls += 1
        if self.fail_get:
            raise OSError(28, "No space left on device")
        return [None] * len(keys)

    def put_many(self, items):
        self.calls += 1
        if self.fail_put:
            raise OSError(28, "No space left on device")


@pytest.mark.parametrize("fail_get,fail_put", [(True, False), (False, True)])
def test_a_failing_store_warns_once_and_the_calls_carry_on(emu, fresh_memory, caplog, fail_get, fail_put):
    store = Broken(fail_get, fail_put)
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache=store)
    with caplog.at_level(logging.WARNING, logger="cn_embeddings.cache"):
        for _ in range(3):
            assert len(client.embed_texts(["a", "b"])) == 2
    warnings = [r for r in caplog.records if r.name == "cn_embeddings.cache"]
    assert len(warnings) == 1 and "No space left" in warnings[0].getMessage()
    assert store.calls <= 2 and client.cache_stats["failed"] == 1


def test_an_unreachable_redis_and_a_read_only_folder_never_fail_a_call(emu, fresh_memory, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="cn_embeddings.cache"):
        gone = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache="redis://127.0.0.1:1/0")
        assert len(gone.embed_texts(["a"])) == 1
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        try:
            if os.access(folder, os.W_OK):  # root writes anyway: a path below a file cannot be made by anyone
                target = str(tmp_path / "a-file" / "vectors.sqlite")
                (tmp_path / "a-file").write_text("x")
            else:
                target = str(folder / "vectors.sqlite")
            ro = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache=target)
            assert len(ro.embed_texts(["a"])) == 1
        finally:
            folder.chmod(0o700)
    said = [r.getMessage() for r in caplog.records if r.name == "cn_embeddings.cache"]
    assert len(said) == 2 and "127.0.0.1:1" in said[0]


def test_a_value_that_is_not_an_entry_is_a_miss(emu, fresh_memory):
    from cn_embeddings._cache import MemoryCache

    store = MemoryCache()
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache=store)
    expected = client.embed_texts(["x"])
    for key in list(store._items):
        store._items[key] = b"garbage"
    emu.reset()
    assert client.embed_texts(["x"]) == expected and len(emu.seen) == 1


def test_the_memory_cache_stays_within_its_bytes(emu, fresh_memory):
    from cn_embeddings._cache import MemoryCache

    store = MemoryCache(max_bytes=40_000)
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0, cache=store)
    client.embed_texts([f"t{i}" for i in range(100)])
    assert 0 < store.bytes <= 40_000
    assert len(store._items) < 100


def test_bad_cache_values_are_refused_before_any_request(emu):
    from cn_embeddings import ConfigurationError

    for bad in ["memory:lots", "s3://bucket/x", 42, "redis://:hunter2@localhost/0"]:
        with pytest.raises(ConfigurationError) as caught:
            emu.client("qianfan", "embedding-v1", cache=bad)
        assert "hunter2" not in str(caught.value)
