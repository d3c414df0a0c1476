"""How long an asyncio loop stalls while it runs calls with a shared quota in Redis.

A heartbeat task sleeps 1 ms at a time and records the longest gap between its wake-ups while
the same loop embeds 400 texts after a one-text warm-up call (Qianfan, one request each,
``quota_url`` set, emulator quota of 100/s). Redis is asked with ``redis.asyncio``, so the loop
never waits on a socket; the target is a longest stall under 10 ms. Python's own garbage
collections pause every thread and loop of the process whatever it runs: their time (seen
through ``gc.callbacks``) is reported apart, and taken out of the stall the target is about.
Side by side: the same call without ``quota_url``.

    python benchmarks/event_loop.py [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

from _common import CREDS, emulator, median, redis_server, summary

from cn_embeddings import QianfanClient


class _Collections:
    """The garbage collections' pauses, as (start, end) times."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.spans.append((self._started, time.perf_counter()))

    def within(self, start: float, end: float) -> float:
        return sum(min(e, end) - max(s, start) for s, e in self.spans if e > start and s < end)


async def stalls(base_url: str, quota_url: str | None) -> tuple[float, float]:
    """(the longest stall outside garbage collections, the longest with them), in ms."""
    client = QianfanClient(
        "embedding-v1",
        api_key=CREDS["qianfan"],
        base_url=base_url,
        batch_size=1,
        requests_per_second=100,
        quota_url=quota_url,
    )
    longest = raw = 0.0
    done = asyncio.Event()
    collections = _Collections()

    async def heartbeat() -> None:
        nonlocal longest, raw
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            raw = max(raw, now - last - 0.001)
            longest = max(longest, now - last - 0.001 - collections.within(last, now))
            last = now

    await client.aembed_texts(["warm-up"])  # one-time set-up (the loop's connection pools) is not a stall
    gc.callbacks.append(collections)
    try:
        beat = asyncio.ensure_future(heartbeat())
        await asyncio.sleep(0.01)
        await client.aembed_texts([f"text {i}" for i in range(400)])
        done.set()
        await beat
    finally:
        gc.callbacks.remove(collections)
    await client.aclose()
    return longest * 1000, raw * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with redis_server() as redis_url, emulator(qps=100) as server:
        shared, local = [], []
        for _ in range(args.reps):
            shared.append(asyncio.run(stalls(server.url + "/v2", redis_url)))
            local.append(asyncio.run(stalls(server.url + "/v2", None)))
    for name, runs in (("with quota_url", shared), ("without", local)):
        print(
            f"  longest stall {name}: {', '.join(f'{s:.1f}' for s, _ in runs)} ms outside garbage collections; "
            f"{', '.join(f'{r:.1f}' for _, r in runs)} ms with them"
        )
    ours = median([s for s, _ in shared])
    summary("event_loop_longest_stall_ms_quota_url_vs_local", ours / max(median([s for s, _ in local]), 0.001), ours)


if __name__ == "__main__":
    main()
