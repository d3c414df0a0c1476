"""Rate control under overload refusals that are not about our rate.

Ark, 3,000 texts (one request each, default settings: the published bound, found
below it), against an emulator that refuses 20% of requests at random with Ark's
``ServerOverloaded``: time against the same call without refusals, with retry
waits set to zero (the controller's own cost) and with the default backoff (what
a user sees). Overload pauses nothing and never lowers the rate. Target for the
default backoff: <= 1.3x. (Quotas are measured by ``quota_matrix.py``.)

This scenario needs more retries than the default 3: with 20% of answers refused at random, a
request is refused 4 times in a row with probability 0.2**4 = 0.16%, about 5 of 3,000. It sets
``max_retries=10`` (0.2**11 * 3,000 = 6e-5 expected failures). Overload refusals, unlike quota
refusals, spend the retry budget: they say nothing about the rate.

    python benchmarks/limiter_overload.py [--reps 3]
"""

from __future__ import annotations

import argparse

from _common import CREDS, emulator, median, side_by_side, summary

from cn_embeddings import ArkClient

TEXTS = [f"第{i}段 text {i}" for i in range(3000)]


def ark(url: str, zero_waits: bool) -> object:
    client = ArkClient(api_key=CREDS["ark"], base_url=url + "/api/v3", zero_waits=zero_waits, max_retries=10)
    result = client.embed(TEXTS)
    assert len(result.vectors) == len(TEXTS)
    return client.usage


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with emulator() as clean, emulator(rate_limit_rate=0.2, rate_limit_code="overload") as noisy:
        times = side_by_side(
            {
                "fault-free": lambda: ark(clean.url, False),
                "20% refused, zero waits": lambda: ark(noisy.url, True),
                "20% refused, default backoff": lambda: ark(noisy.url, False),
            },
            args.reps,
        )
    for name, runs in times.items():
        print(f"  {name:30} median {median(runs):.2f}s  runs {', '.join(f'{r:.2f}' for r in runs)}")
    base = median(times["fault-free"])
    print(f"  default backoff: {median(times['20% refused, default backoff']) / base:.2f}x the fault-free time")
    summary(
        "limiter_random_429_zero_waits_vs_clean",
        median(times["20% refused, zero waits"]) / base,
        median(times["20% refused, zero waits"]),
    )
    summary(
        "limiter_random_429_backoff_vs_clean",
        median(times["20% refused, default backoff"]) / base,
        median(times["20% refused, default backoff"]),
    )


if __name__ == "__main__":
    main()
