"""Scenario 3: Ark doubao-embedding-vision-250615, 400 single-text items (one request each), 50 ms latency.

Ours against volcengine-ark-runtime's Ark client in a loop. Target: at least 6x.

    python benchmarks/fanout_ark.py [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio

from _common import CREDS, emulator, median, side_by_side, summary

from cn_embeddings import ArkClient

ITEMS = [f"第{i}个条目 item {i}" for i in range(400)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    from volcenginesdkarkruntime import Ark

    loop = asyncio.new_event_loop()  # one loop for every async run: the peers' async clients are bound to it
    with emulator(latency_ms=50) as server:
        base = server.url + "/api/v3"
        ours = ArkClient("doubao-embedding-vision-250615", api_key=CREDS["ark"], base_url=base)
        sdk = Ark(api_key=CREDS["ark"], base_url=base)

        def sdk_loop() -> list:
            return [
                sdk.multimodal_embeddings.create(
                    model="doubao-embedding-vision-250615", input=[{"type": "text", "text": t}]
                ).data.embedding
                for t in ITEMS
            ]

        assert sdk_loop()[:3] == ours.embed_texts(ITEMS[:3])  # same vectors, so the race is fair
        times = side_by_side(
            {
                "ours sync": lambda: ours.embed_texts(ITEMS),
                "ours async": lambda: loop.run_until_complete(ours.aembed_texts(ITEMS)),
                "volcengine-ark-runtime loop": sdk_loop,
            },
            args.reps,
        )
    for name, values in times.items():
        print(f"  {name:30s} median {median(values):.3f}s  runs {', '.join(f'{v:.3f}' for v in values)}")
    ours_time = max(median(times["ours sync"]), median(times["ours async"]))
    summary("ark_400_vs_sdk_loop", median(times["volcengine-ark-runtime loop"]) / ours_time, ours_time)


if __name__ == "__main__":
    main()
