"""Dataframe engines at an emulated quota: three workers sharing one quota through Redis.

(a) N Chinese texts with TokenHub kinfra-text-embedding-0.6b (16 a request), an emulated quota of
    QPS requests a second, three workers: Daft (three processes, ``CNEmbeddingsProvider`` with
    ``quota_url``) and Spark (``local[3]``, three partitions, ``embed_column`` with ``quota_url``).
    Reported: the time against the quota bound (N / 16 / QPS; target >= 0.9), the requests refused
    (target <= 1%), and whether every row got exactly its own vector. Side by side, Daft's own
    OpenAI provider pointed at the same OpenAI-compatible endpoint from three processes: its
    requests refused and its rows that got no vector.
(b) Chinese texts of 2,000 characters: the tokens a request really carries (as the vendor counts
    them: a character a token) when Daft's OpenAI embedder packs them by ``len(text) // 3`` under its
    ``batch_token_limit``, against this package's packing.

    python benchmarks/engines.py [--rows 24000] [--qps 50] [--engines daft,spark,daft-openai]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, redis_server, summary

from cn_embeddings.testing import Emulator, Faults

MODEL = "kinfra-text-embedding-0.6b"
PER_REQUEST = 16


def texts(n: int, start: int = 0) -> list[str]:
    return [f"第 {i} 段：熊猫生活在四川的山林里，以竹子为食。" for i in range(start, start + n)]


DAFT_WORKER = """
import json, sys
import daft
from daft.functions import embed_text
kind, rows, first, quota_url, qps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
data = [f"第 {i} 段：熊猫生活在四川的山林里，以竹子为食。" for i in range(first, first + rows)]
df = daft.from_pydict({"text": data})
if kind == "daft":
    from cn_embeddings.daft import CNEmbeddingsProvider
    provider = CNEmbeddingsProvider("tokenhub", quota_url=quota_url, requests_per_second=qps, batch_size=16)
    expr = embed_text(df["text"], provider=provider, model=sys.argv[6])
else:
    from daft.ai.openai.provider import OpenAIProvider
    provider = OpenAIProvider(base_url=sys.argv[7], api_key=sys.argv[8])
    expr = embed_text(df["text"], provider=provider, model=sys.argv[6], batch_size=16, on_error="log")
out = df.with_column("v", expr).collect().to_pydict()
heads = [None if v is None else [float(x) for x in v[:4]] for v in out["v"]]
print(json.dumps({"texts": out["text"], "vectors": heads}))
"""


def daft_run(kind: str, rows: int, qps: float, emu: Emulator, redis_url: str) -> tuple[float, list[dict]]:
    env = {**os.environ, **emu.environment(), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    share = rows // 3
    base = emu.environment()["TOKENHUB_BASE_URL"]
    key = emu.environment()["TOKENHUB_API_KEY"]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                DAFT_WORKER,
                kind,
                str(share),
                str(n * share),
                redis_url,
                str(qps),
                MODEL,
                base,
                key,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for n in range(3)
    ]
    outputs = [proc.communicate(timeout=1800) for proc in procs]
    seconds = time.perf_counter() - started
    for proc, (_, err) in zip(procs, outputs, strict=True):
        if proc.returncode:
            raise SystemExit(f"{kind} worker failed: {err[-2000:]}")
    return seconds, [json.loads(out) for out, _ in outputs]


def spark_run(rows: int, qps: float, emu: Emulator, redis_url: str) -> tuple[float, list[dict]]:
    from pyspark.sql import SparkSession

    from cn_embeddings.spark import embed_column

    for key, value in emu.environment().items():
        os.environ[key] = value
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = SparkSession.builder.master("local[3]").config("spark.ui.enabled", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        df = spark.createDataFrame([(t,) for t in texts(rows)], ["text"]).repartition(3).cache()
        df.count()
        emu.reset()
        started = time.perf_counter()
        out = embed_column(
            df, "text", provider="tokenhub", model=MODEL, quota_url=redis_url, requests_per_second=qps, batch_size=16
        ).collect()
        seconds = time.perf_counter() - started
    finally:
        spark.stop()
    return seconds, [{"texts": [r["text"] for r in out], "vectors": [list(r["embedding"][:4]) for r in out]}]


def exact(results: list[dict], rows: int) -> tuple[int, int]:
    """(rows with a vector that is exactly their own, rows without one), against the emulator's
    deterministic vectors of each text."""
    with Emulator() as reference:
        client = reference.client("tokenhub", MODEL, requests_per_second=0)
        got_texts = [t for r in results for t in r["texts"]]
        want = {t: v[:4] for t, v in zip(got_texts, client.embed_texts(got_texts), strict=True)}
    good = missing = 0
    for result in results:
        for text, vector in zip(result["texts"], result["vectors"], strict=True):
            if vector is None:
                missing += 1
            elif all(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in zip(vector, want[text], strict=True)):
                good += 1
    return good, missing


def packing(n: int = 600) -> None:
    """(b): the tokens per request of each packing, for 2,000-character Chinese texts."""
    from daft.ai.openai.protocols.text_embedder import OpenAITextEmbedder

    long_texts = [("熊猫吃竹子。" * 400)[:2000] for _ in range(n)]
    with Emulator() as emu:
        env = emu.environment()
        embedder = OpenAITextEmbedder(
            provider_options={"base_url": env["TOKENHUB_BASE_URL"], "api_key": env["TOKENHUB_API_KEY"]},
            model=MODEL,
            embed_options={"batch_size": n, "max_retries": 0, "on_error": "raise"},
        )
        import asyncio

        asyncio.run(embedder.embed_text(long_texts))
        theirs = [sum(len(t) for t in s.body["input"]) for s in emu.seen]
        emu.reset()
        ours = emu.client("tokenhub", MODEL, requests_per_second=0)
        ours.embed_texts(long_texts)
        mine = [sum(len(t) for t in s.body["input"]) for s in emu.seen]
    limit = 300_000  # the embedder's batch_token_limit, which it checks against len(text) // 3
    print(f"# Daft's OpenAI embedder: {len(theirs)} requests, largest {max(theirs):,} tokens as the vendor counts "
          f"(its own estimate {max(theirs) // 3:,}; its limit {limit:,}); over the limit: "
          f"{sum(1 for t in theirs if t > limit)}")  # fmt: skip
    print(f"# cn-embeddings: {len(mine)} requests, largest {max(mine):,} tokens (estimated as counted)")
    summary("packing_daft_openai_largest_request_vs_its_limit", max(theirs) / limit, max(theirs))
    summary("packing_ours_largest_request_tokens", max(mine) / limit, max(mine))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=24_000)
    parser.add_argument("--qps", type=float, default=50)
    parser.add_argument("--engines", default="daft,spark,daft-openai")
    parser.add_argument("--packing", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    print(f"# {machine()}, {time.strftime('%Y-%m-%d')}")
    bound = args.rows / PER_REQUEST / args.qps
    with redis_server() as redis_url, Emulator(faults=Faults(qps=args.qps, quota_kind="moving")) as emu:
        for engine in args.engines.split(","):
            emu.reset()
            if engine == "spark":
                seconds, results = spark_run(args.rows, args.qps, emu, redis_url)
            else:
                seconds, results = daft_run(
                    "daft" if engine == "daft" else "openai", args.rows, args.qps, emu, redis_url
                )
            statuses = [s.status for s in emu.seen]
            refused = sum(1 for s in statuses if s == 429)
            rows = sum(len(r["texts"]) for r in results)
            good, missing = exact(results, rows)
            print(f"# {engine}: {seconds:.1f} s (bound {bound:.1f} s), {len(statuses)} requests, {refused} refused, "
                  f"{good} of {rows} rows exactly their own vector, {missing} without one")  # fmt: skip
            summary(f"engine_{engine}_vs_bound", bound / seconds, seconds)
            summary(f"engine_{engine}_refused_pct", refused / max(1, len(statuses)) * 100, refused)
            summary(f"engine_{engine}_rows_without_vector", missing / max(1, rows), missing)
    if args.packing:
        packing()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
