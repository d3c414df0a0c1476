"""A user's first call, in a cold process, against a plain client: the rate controller must cost
nothing while the vendor accepts everything.

Qianfan embedding-v1 on the emulator at 50 ms latency with no quota; 200, 2,000 and 20,000 texts
(batches of 16: 13, 125 and 1,250 requests). Each contender runs in a fresh process with default
settings (nothing remembered): our ``QianfanClient.embed``, and a plain httpx loop keeping 16
requests in flight (a thread pool posting the same batches). Rounds alternate the two; the figure
is the median of our time over the loop's (targets: at most 2x, 1.2x and 1.1x).

    python benchmarks/first_call.py [--reps 5] [--sizes 200,2000,20000] [--baseline ../other-checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import CREDS, emulator, median, summary

TARGETS = {200: 2.0, 2000: 1.2, 20000: 1.1}


def ours(url: str, n: int) -> float:
    started = time.perf_counter()
    from cn_embeddings import QianfanClient

    client = QianfanClient("embedding-v1", api_key=CREDS["qianfan"], base_url=url + "/v2")
    result = client.embed([f"text {i}" for i in range(n)])
    assert len(result.vectors) == n
    return time.perf_counter() - started


def loop(url: str, n: int) -> float:
    started = time.perf_counter()
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    texts = [f"text {i}" for i in range(n)]
    batches = [texts[i : i + 16] for i in range(0, n, 16)]
    with httpx.Client(headers={"Authorization": f"Bearer {CREDS['qianfan']}"}, timeout=60) as client:

        def post(batch: list[str]) -> int:
            response = client.post(url + "/v2/embeddings", json={"model": "embedding-v1", "input": batch})
            response.raise_for_status()
            return len(response.json()["data"])

        with ThreadPoolExecutor(16) as pool:
            assert sum(pool.map(post, batches)) == n
    return time.perf_counter() - started


def cold(which: str, url: str, n: int, baseline: str = "") -> float:
    env = {**os.environ, "CN_EMBEDDINGS_REMEMBER_QUOTA": "0"}
    if which == "baseline":  # our call, from another checkout (the main this one started from)
        env["PYTHONPATH"], which = baseline, "ours"
    out = subprocess.run(
        [sys.executable, __file__, "--one", which, url, str(n)], capture_output=True, text=True, env=env, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--sizes", default="200,2000,20000")
    parser.add_argument("--one", nargs=3)
    parser.add_argument("--baseline", default="", help="a checkout of another version, run as a third contender")
    args = parser.parse_args()
    if args.one:
        which, url, n = args.one[0], args.one[1], int(args.one[2])
        print(json.dumps({"seconds": (ours if which == "ours" else loop)(url, n)}))
        return
    with emulator(latency_ms=50) as server:
        for n in (int(s) for s in args.sizes.split(",")):
            times: dict[str, list[float]] = {"ours": [], "loop": []}
            if args.baseline:
                times["baseline"] = []
            for _ in range(args.reps):
                for which in times:
                    times[which].append(cold(which, server.url, n, args.baseline))
            if args.baseline:
                print(f"# {n} texts: baseline {median(times['baseline']):.3f} s", flush=True)
            ratio = median(times["ours"]) / median(times["loop"])
            print(f"# {n} texts: ours {median(times['ours']):.3f} s, loop {median(times['loop']):.3f} s", flush=True)
            summary(f"first_call_{n}_vs_plain_loop", ratio, median(times["ours"]))


if __name__ == "__main__":
    main()
