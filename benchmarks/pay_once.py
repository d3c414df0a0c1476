"""Pay once: an update in place after an edit, against the first run and LangChain's ``index()``;
and vectors served from the cache.

(a) A corpus of N rows (id, text, two columns) goes into Parquet, a LanceDB table and a local
    Qdrant collection with ``cn-embeddings embed`` at an emulated quota of QPS requests a second.
    Then an edit changes 5% of the texts and 5% of the columns, removes 2% and adds 2%, and
    ``--update --delete-missing`` brings each output in line. Reported per output: the texts the
    update paid for (target: exactly the changed and new ones, 7% of N) and its time against the
    first run's (target <= 0.15).
(b) The same edit through LangChain's ``index()`` with a ``SQLRecordManager`` (cleanup ``full``)
    over an in-memory store, with the same embeddings class: the texts and requests each paid.
(c) K texts all answered by the cache, from SQLite and from a local Redis: the lookups alone
    (keys to float32 vectors) and the whole call (lists of Python floats), and the peak memory
    of serving 10,000 hits from a cache of 10,000 and of K entries (target: flat).

    python benchmarks/pay_once.py [--rows 20000] [--qps 100] [--cached 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import CREDS, emulator, emulator_env, machine, redis_server, summary

EDIT = {"texts": 0.05, "columns": 0.05, "removed": 0.02, "added": 0.02}


def corpus(rows: int, seed: int = 1) -> dict[str, dict]:
    rng = random.Random(seed)
    return {
        f"d{i}": {"id": f"d{i}", "text": f"passage {i}: {rng.random():.6f} 熊猫 竹子", "page": i % 50, "source": "a"}
        for i in range(rows)
    }


def edit(rows: dict[str, dict], seed: int = 2) -> tuple[dict[str, dict], int]:
    """The edited corpus, and how many texts it changed or added."""
    rng = random.Random(seed)
    ids = sorted(rows)
    rng.shuffle(ids)
    n = len(ids)
    cut = [round(n * EDIT[k]) for k in ("texts", "columns", "removed")]
    texts, columns, removed = ids[: cut[0]], ids[cut[0] : cut[0] + cut[1]], ids[sum(cut[:2]) : sum(cut)]
    new = {rid: dict(row) for rid, row in rows.items()}
    for rid in texts:
        new[rid]["text"] += " (edited)"
    for rid in columns:
        new[rid]["source"] = "b"
    for rid in removed:
        del new[rid]
    added = round(n * EDIT["added"])
    for i in range(added):
        new[f"n{i}"] = {"id": f"n{i}", "text": f"a new passage {i}", "page": 0, "source": "a"}
    return new, len(texts) + added


def write(path: Path, rows: dict[str, dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows.values()), encoding="utf-8")


def cli(corpus_path: Path, out: Path, qps: float, env: dict[str, str], *extra: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cn_embeddings.cli", "embed", "--provider", "qianfan", "--model", "embedding-v1",
         "--input", str(corpus_path), "--output", str(out), "--rps", str(qps), *extra],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return time.perf_counter() - started, done.stderr.strip().splitlines()[-1]


def updates(rows: int, qps: float, outputs: list[str]) -> None:
    first_rows = corpus(rows)
    edited, changed = edit(first_rows)
    with emulator(qps=qps) as server, tempfile.TemporaryDirectory() as tmp:
        env = emulator_env(server)
        folder = Path(tmp)
        for kind in outputs:
            path = folder / "corpus.jsonl"
            write(path, first_rows)
            out = folder / f"out-{kind}.{kind}"
            first, _ = cli(path, out, qps, env)
            write(path, edited)
            seconds, said = cli(path, out, qps, env, "--update", "--delete-missing")
            paid = int(re.search(r"(\d+) rows written", said).group(1))  # type: ignore[union-attr]
            requests = int(re.search(r"(\d+) requests", said).group(1))  # type: ignore[union-attr]
            print(f"# {kind}: first run {first:.1f} s; update {seconds:.1f} s: {said}")
            summary(f"update_{kind}_paid_texts_vs_changed", paid / changed, paid)
            summary(f"update_{kind}_requests", requests / max(1, -(-changed // 16)), requests)
            summary(f"update_{kind}_time_vs_first_run", seconds / first, seconds)


def langchain_index(rows: int, qps: float) -> None:
    from langchain_classic.indexes import SQLRecordManager, index
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore

    from langchain_cn_embeddings import QianfanEmbeddings

    first_rows = corpus(rows)
    edited, changed = edit(first_rows)

    def docs(rows_: dict[str, dict]) -> list[Document]:
        return [
            Document(page_content=r["text"], metadata={"id": r["id"], "page": r["page"], "source": r["source"]})
            for r in rows_.values()
        ]

    with emulator(qps=qps) as server, tempfile.TemporaryDirectory() as tmp:
        emb = QianfanEmbeddings(
            model="embedding-v1", api_key=CREDS["qianfan"], base_url=server.url + "/v2", requests_per_second=qps
        )
        manager = SQLRecordManager("bench", db_url=f"sqlite:///{tmp}/records.sqlite")
        manager.create_schema()
        store = InMemoryVectorStore(emb)
        index(docs(first_rows), manager, store, cleanup="full", source_id_key="id", key_encoder="sha256")
        before = emb.usage
        started = time.perf_counter()
        result = index(docs(edited), manager, store, cleanup="full", source_id_key="id", key_encoder="sha256")
        seconds = time.perf_counter() - started
        after = emb.usage
        requests = after.requests - before.requests
        print(f"# langchain index(): update {seconds:.1f} s, {result}, {requests} requests")
        summary("langchain_index_paid_texts_vs_changed", result["num_added"] / changed, result["num_added"])
        summary("langchain_index_requests", requests / max(1, -(-changed // 16)), requests)


# The peak is VmHWM (reset by exec; ru_maxrss is not: a child would start at the parent's peak).
HITS_CHILD = """
import sys
from cn_embeddings import QianfanClient
def peak():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
where, n = sys.argv[1], int(sys.argv[2])
client = QianfanClient("embedding-v1", api_key="unused-key", base_url="http://127.0.0.1:9/v2", cache=where)
texts = [f"cached passage number {i} about something" for i in range(n)]
before = peak()
result = client.embed(texts)
assert result.usage.cache_hits == n and result.usage.requests == 0
print(peak() - before)
"""


def cache_hits(cached: int) -> None:
    from cn_embeddings import QianfanClient
    from cn_embeddings._cache import shared_cache
    from cn_embeddings._cache._entry import decode, key_of

    texts = [f"cached passage number {i} about something" for i in range(cached)]
    with emulator() as server, redis_server() as redis_url, tempfile.TemporaryDirectory() as tmp:
        for kind, where in (("sqlite", f"{tmp}/vectors.sqlite"), ("redis", redis_url)):
            client = QianfanClient(
                "embedding-v1", api_key=CREDS["qianfan"], base_url=server.url + "/v2", cache=where,
                requests_per_second=0, max_concurrency=32,
            )  # fmt: skip
            client.embed(texts)  # fills the cache
            items = client.validate(texts)
            keys = [key_of(client._scope, item) for item in items]
            store = shared_cache(where).store  # type: ignore[union-attr]
            lookups, calls = [], []
            for _ in range(3):
                started = time.perf_counter()
                values = store.get_many(keys)
                vectors = [decode(v).vector for v in values if v is not None]
                lookups.append(time.perf_counter() - started)
                assert len(vectors) == cached
                del vectors, values
                started = time.perf_counter()
                result = client.embed(texts)
                calls.append(time.perf_counter() - started)
                assert result.usage.requests == 0 and result.usage.cache_hits == cached
                del result
            lookup, call = sorted(lookups)[1], sorted(calls)[1]
            summary(f"cache_{kind}_{cached}_lookups_s", lookup, lookup)
            summary(f"cache_{kind}_{cached}_whole_call_s", call, call)
            if kind == "sqlite":  # memory: 10,000 hits from a cache of 10,000 and one of `cached` entries
                small = f"{tmp}/small.sqlite"
                QianfanClient(
                    "embedding-v1", api_key=CREDS["qianfan"], base_url=server.url + "/v2", cache=small,
                    requests_per_second=0,
                ).embed(texts[:10_000])  # fmt: skip
                grown = []
                for path in (small, where):
                    done = subprocess.run(
                        [sys.executable, "-c", HITS_CHILD, path, "10000"], capture_output=True, text=True
                    )
                    if done.returncode:
                        raise SystemExit(done.stderr[-2000:])
                    grown.append(float(done.stdout.strip()))
                    print(f"# {path}: peak memory grew {grown[-1]:.1f} MiB serving 10,000 hits")
                summary(f"cache_memory_{cached}_vs_10000_entries", grown[1] / grown[0], grown[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--qps", type=float, default=100)
    parser.add_argument("--cached", type=int, default=100_000)
    parser.add_argument("--outputs", default="parquet,lance,qdrant")
    parser.add_argument("--parts", default="updates,langchain,cache")
    args = parser.parse_args()
    print(f"# {machine()}, {time.strftime('%Y-%m-%d')}")
    parts = args.parts.split(",")
    if "updates" in parts:
        updates(args.rows, args.qps, args.outputs.split(","))
    if "langchain" in parts:
        langchain_index(args.rows, args.qps)
    if "cache" in parts:
        cache_hits(args.cached)


if __name__ == "__main__":
    main()
