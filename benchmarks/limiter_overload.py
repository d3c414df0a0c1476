"""The adaptive limiter under refusals that are not about our rate, and under a real quota.

1. Ark, 3,000 texts (one request each, no configured rate), against an emulator
   that refuses 20% of requests at random with Ark's quota code: time against the
   same call without refusals, with retry waits set to zero (the limiter's own
   cost) and with the default backoff (what a user sees: each refused request
   waits 0.1 s or more before its retry, while other batches use its place on
   the wire). Target for both: <= 2x.
2. Qianfan, 1,000 texts one per request, no configured rate, against an
   emulator quota of 50 requests/s: throughput against the quota bound and the
   share of requests refused.

    python benchmarks/limiter_overload.py [--reps 3]
"""

from __future__ import annotations

import argparse

from _common import CREDS, emulator, median, side_by_side, summary

from cn_embeddings import ArkClient, QianfanClient

TEXTS = [f"第{i}段 text {i}" for i in range(3000)]


def ark(url: str, zero_waits: bool) -> object:
    client = ArkClient(api_key=CREDS["ark"], base_url=url + "/api/v3", max_retries=30, zero_waits=zero_waits)
    result = client.embed(TEXTS)
    assert len(result.vectors) == len(TEXTS)
    return client.usage


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with emulator() as clean, emulator(rate_limit_rate=0.2) as noisy:
        times = side_by_side({"fault-free": lambda: ark(clean.url, False),
                              "20% refused, zero waits": lambda: ark(noisy.url, True),
                              "20% refused, default backoff": lambda: ark(noisy.url, False)}, args.reps)
    for name, runs in times.items():
        print(f"  {name:30} median {median(runs):.2f}s  runs {', '.join(f'{r:.2f}' for r in runs)}")
    base = median(times["fault-free"])
    print(f"  default backoff: {median(times['20% refused, default backoff']) / base:.2f}x the fault-free time")
    summary("limiter_random_429_zero_waits_vs_clean", median(times["20% refused, zero waits"]) / base,
            median(times["20% refused, zero waits"]))
    summary("limiter_random_429_backoff_vs_clean", median(times["20% refused, default backoff"]) / base,
            median(times["20% refused, default backoff"]))

    qps, n = 50, 1000
    with emulator(qps=qps) as server:
        client = QianfanClient("embedding-v1", api_key=CREDS["qianfan"], base_url=server.url + "/v2", batch_size=1,
                               max_retries=30)
        runs = side_by_side({"quota": lambda: client.embed_texts(TEXTS[:n])}, 1)["quota"]
        usage = client.usage
    refused = usage.retries / usage.requests
    bound = n / qps
    print(f"  quota {qps}/s: {runs[0]:.1f} s for {n} requests (bound {bound:.1f} s, {bound / runs[0]:.2f} of the "
          f"quota), {usage.retries} of {usage.requests} refused ({refused:.1%})")
    summary("limiter_quota_50_vs_bound", bound / runs[0], refused * 100)


if __name__ == "__main__":
    main()
