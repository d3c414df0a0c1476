"""Scenario 5: peak memory while embedding 20,000 texts (Qianfan embedding-v1, 384 dimensions).

Reports the growth of peak RSS during the call (VmHWM, reset just before it)
against the size of the returned vectors themselves (the lists and their
float objects). Target: within 1.5x.

    python benchmarks/memory.py
"""

from __future__ import annotations

import sys

from _common import CREDS, emulator, summary

from cn_embeddings import QianfanClient

N = 20_000


def status(field: str) -> int:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def main() -> None:
    texts = [f"第{i}条文本 number {i}" for i in range(N)]
    with emulator() as server:
        client = QianfanClient("embedding-v1", api_key=CREDS["qianfan"], base_url=server.url + "/v2")
        client.embed_texts(texts[:200])  # warm up: connections, threads, imports
        with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to the current RSS
            fh.write("5")
        before = status("VmRSS")
        vectors = client.embed_texts(texts)
        peak = status("VmHWM")
    own = sys.getsizeof(vectors) + sum(sys.getsizeof(v) + len(v) * sys.getsizeof(0.0) for v in vectors)
    grew = peak - before
    print(
        f"  vectors: {len(vectors)} x {len(vectors[0])} = {own / 2**20:.1f} MiB; "
        f"peak RSS grew {grew / 2**20:.1f} MiB during the call ({before / 2**20:.1f} MiB before)"
    )
    summary("memory_20000_peak_vs_vectors", grew / own, grew / 2**20)


if __name__ == "__main__":
    main()
