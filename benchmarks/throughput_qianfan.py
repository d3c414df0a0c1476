"""Scenario 1: Qianfan embedding-v1, 2,000 short Chinese texts, 50 ms latency, no quota.

Ours (defaults, sync and async) against langchain-openai's OpenAIEmbeddings
pointed at Qianfan's OpenAI-compatible endpoint (sync and async), and the
openai client in a loop. Target: ours at least 6x faster than each.

    python benchmarks/throughput_qianfan.py [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio

from _common import CREDS, emulator, median, side_by_side, summary

from langchain_cn_embeddings import QianfanEmbeddings

TEXTS = [f"第{i}条短文本：今天天气很好，适合出门散步。" for i in range(2000)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    import openai
    from langchain_openai import OpenAIEmbeddings

    loop = asyncio.new_event_loop()  # one loop for every async run: the peers' async clients are bound to it
    with emulator(latency_ms=50) as server:
        base = server.url + "/v2"
        ours = QianfanEmbeddings(model="embedding-v1", api_key=CREDS["qianfan"], base_url=base)
        # Qianfan documents float only, so the peers are told to ask for float (langchain-openai's own advice
        # for OpenAI-compatible providers).
        peer = OpenAIEmbeddings(
            model="embedding-v1",
            base_url=base,
            api_key=CREDS["qianfan"],
            chunk_size=16,
            check_embedding_ctx_length=False,
            model_kwargs={"encoding_format": "float"},
        )
        client = openai.OpenAI(base_url=base, api_key=CREDS["qianfan"])

        def openai_loop() -> list:
            out = []
            for start in range(0, len(TEXTS), 16):
                response = client.embeddings.create(
                    model="embedding-v1", input=TEXTS[start : start + 16], encoding_format="float"
                )
                out += [d.embedding for d in response.data]
            return out

        reference = ours.embed_documents(TEXTS)
        assert peer.embed_documents(TEXTS[:32]) == reference[:32]  # same vectors, so the race is fair
        times = side_by_side(
            {
                "ours sync": lambda: ours.embed_documents(TEXTS),
                "ours async": lambda: loop.run_until_complete(ours.aembed_documents(TEXTS)),
                "OpenAIEmbeddings sync": lambda: peer.embed_documents(TEXTS),
                "OpenAIEmbeddings async": lambda: loop.run_until_complete(peer.aembed_documents(TEXTS)),
                "openai client loop": openai_loop,
            },
            args.reps,
        )
    for name, values in times.items():
        print(f"  {name:24s} median {median(values):.3f}s  runs {', '.join(f'{v:.3f}' for v in values)}")
    ours_best = max(median(times["ours sync"]), median(times["ours async"]))
    slowest_ratio = min(median(times[p]) for p in times if not p.startswith("ours")) / ours_best
    summary("qianfan_2000_vs_peers", slowest_ratio, ours_best)


if __name__ == "__main__":
    main()
