"""How long an asyncio loop stalls while it runs calls with a shared quota in Redis.

A heartbeat task sleeps 1 ms at a time and records the longest gap between its wake-ups while
the same loop embeds 400 texts (Qianfan, one request each, ``quota_url`` set, emulator quota of
100/s). Redis is asked with ``redis.asyncio``, so the loop never waits on a socket; the target is
a longest stall under 10 ms. Side by side: the same call without ``quota_url``.

    python benchmarks/event_loop.py [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import CREDS, emulator, median, redis_server, summary

from cn_embeddings import QianfanClient


async def stalls(base_url: str, quota_url: str | None) -> float:
    client = QianfanClient("embedding-v1", api_key=CREDS["qianfan"], base_url=base_url, batch_size=1,
                           requests_per_second=100, quota_url=quota_url)
    longest = 0.0
    done = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last - 0.001)
            last = now

    beat = asyncio.ensure_future(heartbeat())
    await asyncio.sleep(0.01)
    await client.aembed_texts([f"text {i}" for i in range(400)])
    done.set()
    await beat
    await client.aclose()
    return longest * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with redis_server() as redis_url, emulator(qps=100) as server:
        shared, local = [], []
        for _ in range(args.reps):
            shared.append(asyncio.run(stalls(server.url + "/v2", redis_url)))
            local.append(asyncio.run(stalls(server.url + "/v2", None)))
    print(f"  longest stall with quota_url: {', '.join(f'{s:.1f}' for s in shared)} ms; "
          f"without: {', '.join(f'{s:.1f}' for s in local)} ms")
    summary("event_loop_longest_stall_ms_quota_url_vs_local", median(shared) / max(median(local), 0.001),
            median(shared))


if __name__ == "__main__":
    main()
