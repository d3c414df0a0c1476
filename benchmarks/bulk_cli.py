"""Bulk job: ``cn-embeddings embed`` from a JSON Lines corpus (id, text and two metadata fields)
into Parquet, a LanceDB table and a Qdrant collection (local mode), at a vendor quota.

Qianfan embedding-v1 (16 texts a request) against an emulator quota of QPS
requests per second, with ``--rps QPS``: the quota bound for N texts is
N / 16 / QPS seconds. Reports, per output, throughput against that bound (target >= 0.95)
and the CLI's peak RSS (ru_maxrss of the process) for 100,000 inputs against
10,000 (target <= 1.2x).

    python benchmarks/bulk_cli.py [--qps 40] [--outputs parquet,lance,qdrant]
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

from _common import emulator, emulator_env, summary


def run(corpus: Path, out: Path, qps: float, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one CLI run."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cn_embeddings.cli",
            "embed",
            "--provider",
            "qianfan",
            "--model",
            "embedding-v1",
            "--input",
            str(corpus),
            "--output",
            str(out),
            "--rps",
            str(qps),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"embed failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--qps", type=float, default=40)
    parser.add_argument("--reps", type=int, default=1)  # accepted for run_all; one run of each size
    parser.add_argument("--outputs", default="parquet,lance,qdrant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator(qps=args.qps) as server:
        env = emulator_env(server)
        for kind in args.outputs.split(","):
            results = {}
            for n in (10_000, 100_000):
                corpus = Path(tmp) / f"corpus{n}.jsonl"
                if not corpus.exists():
                    rows = (
                        json.dumps({"id": f"doc-{i}", "text": f"第{i}段文本，编号 {i}，用于批量嵌入测试。",
                                    "source": f"book-{i % 50}.pdf", "page": i % 400}, ensure_ascii=False) + "\n"
                        for i in range(n)
                    )  # fmt: skip
                    corpus.write_text("".join(rows), encoding="utf-8")
                out = Path(tmp) / kind / f"out{n}.{kind}"
                out.parent.mkdir(exist_ok=True)
                results[n] = run(corpus, out, args.qps, env)
                bound = n / 16 / args.qps
                print(
                    f"  {kind} {n} texts: {results[n][0]:.1f} s (quota bound {bound:.1f} s), "
                    f"{n / results[n][0]:.0f} rows/s, peak RSS {results[n][1]:.0f} MiB",
                    flush=True,
                )
            seconds, _ = results[100_000]
            summary(f"bulk_cli_100000_{kind}_vs_quota", (100_000 / 16 / args.qps) / seconds, seconds)
            summary(
                f"bulk_cli_rss_{kind}_100000_vs_10000", results[100_000][1] / results[10_000][1], results[100_000][1]
            )


if __name__ == "__main__":
    main()
