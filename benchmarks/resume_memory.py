"""Resume memory: what the bulk job holds per row while it checks a corpus against its output.

An output of N rows (JSON Lines, written here with the ids and content hashes the job would give
a .txt corpus) and that corpus; ``embed_corpus`` then resumes, in a cold process each, and finds
everything done (no request is sent). The figure is the growth of peak RSS from 100,000 rows to
1,000,000, per added row (target: at most 16 bytes a row).

    python benchmarks/resume_memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import summary

SIZES = (100_000, 1_000_000)


def write(folder: Path, n: int) -> tuple[Path, Path]:
    from cn_embeddings import QianfanClient
    from cn_embeddings.bulk import content_hash

    client = QianfanClient("embedding-v1", api_key="unused", base_url="http://127.0.0.1:9/v2")
    corpus, out = folder / f"corpus{n}.txt", folder / f"out{n}.jsonl"
    with open(corpus, "w", encoding="utf-8") as texts, open(out, "w", encoding="utf-8") as rows:
        for i in range(n):
            text = f"第{i}段文本，编号 {i}。"
            texts.write(text + "\n")
            digest = content_hash(client.validate([text])[0])
            head = json.dumps({"id": digest, "hash": digest, "model": "embedding-v1"})
            rows.write(head[:-1] + ', "vector": [0.5, 0.5]}\n')
    return corpus, out


def one(corpus: str, out: str) -> None:
    """In the cold process: resume, then print the peak RSS in bytes."""
    from cn_embeddings import QianfanClient
    from cn_embeddings.bulk import Source, embed_corpus, open_sink

    client = QianfanClient("embedding-v1", api_key="unused", base_url="http://127.0.0.1:9/v2")
    done = embed_corpus(client, Source(files=[corpus]), open_sink(out))
    assert done.written == 0 and done.skipped > 0 and client.usage.requests == 0
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", nargs=2)
    parser.add_argument("--reps", type=int, default=1)  # accepted for run_all
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            corpus, out = write(Path(tmp), n)
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(corpus), str(out)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            peaks[n] = int(done.stdout.strip().splitlines()[-1])
            print(f"  {n} rows: peak RSS {peaks[n] / 2**20:.0f} MiB", flush=True)
    per_row = (peaks[SIZES[1]] - peaks[SIZES[0]]) / (SIZES[1] - SIZES[0])
    summary("resume_memory_bytes_per_row_vs_16", per_row / 16, per_row)


if __name__ == "__main__":
    main()
