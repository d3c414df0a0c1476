"""Three processes, one account and model, one emulator quota shared through ``quota_url``.

Each process embeds 1,600 texts with Qianfan embedding-v1 (100 requests of 16)
at ``requests_per_second=QPS``, the emulator's per-model quota, under each kind
of quota (bucket, moving and fixed windows, a window that counts refused
requests). The three together should run at >= 0.9 of the quota with at most 1%
of requests throttled. One run without ``quota_url`` shows what sharing saves:
each process then takes the whole quota for itself and the vendor throttles the
excess.

    python benchmarks/shared_quota.py [--qps 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

from _common import CREDS, emulator, redis_server, summary

from cn_embeddings import QianfanClient

PER_PROCESS = 1600  # 100 requests of 16


def worker(base_url: str, quota_url: str | None, qps: float, tag: int, queue) -> None:
    client = QianfanClient(
        "embedding-v1", api_key=CREDS["qianfan"], base_url=base_url, requests_per_second=qps, quota_url=quota_url
    )
    client.embed_texts([f"process {tag} text {i}" for i in range(PER_PROCESS)])
    usage = client.usage
    queue.put((usage.requests, usage.retries))  # default retries: a quota refusal must not fail the call


def run(base_url: str, quota_url: str | None, qps: float) -> tuple[float, int, int]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(base_url, quota_url, qps, tag, queue)) for tag in range(3)]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=600) for _ in procs]
    seconds = time.perf_counter() - started
    for proc in procs:
        proc.join()
    return seconds, sum(r[0] for r in results), sum(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--qps", type=float, default=20)
    parser.add_argument("--reps", type=int, default=1)  # accepted for run_all; one run of each
    args = parser.parse_args()
    useful = 3 * PER_PROCESS // 16
    bound = useful / args.qps
    with redis_server() as redis_url:
        for kind, quota_url in (
            ("bucket", redis_url),
            ("moving", redis_url),
            ("fixed", redis_url),
            ("counting", redis_url),
            ("moving", None),
        ):
            with emulator(qps=args.qps, quota_kind=kind) as server:
                seconds, requests, retries = run(server.url + "/v2", quota_url, args.qps)
            name = "shared" if quota_url else "alone"
            print(
                f"  {name:6} {kind:8}: {seconds:.1f} s for {useful} useful requests (quota bound {bound:.1f} s, "
                f"{bound / seconds:.2f} of the quota), {requests} sent, {retries} throttled and retried "
                f"({retries / requests:.1%})",
                flush=True,
            )
            if quota_url:
                summary(f"shared_quota_3_processes_{kind}_vs_bound", bound / seconds, retries / requests * 100)


if __name__ == "__main__":
    main()
