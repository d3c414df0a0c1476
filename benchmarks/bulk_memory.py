"""Bulk job memory when answers come faster than the output takes them: peak RSS must not grow
with the corpus.

``cn-embeddings embed`` from a JSON Lines corpus into each output kind, against an emulator with
no latency and no quota (``--rps 0``: rate control off), for SMALL and LARGE rows; 384-d vectors
(Qianfan embedding-v1) and 2,048-d (Ark doubao-embedding-text). Reports the CLI's peak RSS
(ru_maxrss) for LARGE rows over SMALL rows (target: at most 1.25) and the rows per second.

    python benchmarks/bulk_memory.py [--sizes 3000,30000] [--outputs jsonl,parquet,lance,qdrant] [--dims 384,2048]
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

MODELS = {384: ("qianfan", "embedding-v1"), 2048: ("ark", "doubao-embedding-text-240715")}
SUFFIX = {"jsonl": "out.jsonl", "parquet": "out.parquet", "lance": "db/vectors.lance", "qdrant": "db/vectors.qdrant"}


def run(corpus: Path, out: Path, dims: int, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one CLI run."""
    provider, model = MODELS[dims]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cn_embeddings.cli", "embed", "--provider", provider, "--model", model,
         "--input", str(corpus), "--output", str(out), "--rps", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"embed failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024


def corpus_of(folder: Path, n: int) -> Path:
    path = folder / f"corpus{n}.jsonl"
    if not path.exists():
        rows = (
            json.dumps({"id": f"doc-{i}", "text": f"第{i}段文本，编号 {i}，用于批量嵌入测试。",
                        "source": f"book-{i % 50}.pdf", "page": i % 400}, ensure_ascii=False) + "\n"
            for i in range(n)
        )  # fmt: skip
        path.write_text("".join(rows), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="3000,30000")
    parser.add_argument("--outputs", default="jsonl,parquet,lance,qdrant")
    parser.add_argument("--dims", default="384,2048")
    parser.add_argument("--reps", type=int, default=1)  # accepted for run_all
    args = parser.parse_args()
    small, large = (int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory() as tmp, emulator() as server:
        env = {**emulator_env(server), "CN_EMBEDDINGS_REMEMBER_QUOTA": "0"}
        for dims in (int(d) for d in args.dims.split(",")):
            for kind in args.outputs.split(","):
                peaks = {}
                for n in (small, large):
                    out = Path(tmp) / f"{kind}-{dims}-{n}" / SUFFIX[kind]
                    out.parent.mkdir(parents=True)
                    seconds, peaks[n] = run(corpus_of(Path(tmp), n), out, dims, env)
                    print(f"  {kind} {dims}-d {n} rows: {seconds:.1f} s, {n / seconds:.0f} rows/s, "
                          f"peak RSS {peaks[n]:.0f} MiB", flush=True)  # fmt: skip
                summary(f"bulk_rss_{kind}_{dims}d_{large}_vs_{small}", peaks[large] / peaks[small], peaks[large])


if __name__ == "__main__":
    main()
