"""``long_inputs="split"`` is linear in the text's length: a 1 MB text split in under 2 s.

Each case checks one text of N characters against a model's limit, as a call does before any
request: Tencent WeCLIPv2 (72 characters, the case that was quadratic: 40,000 characters took
6.8 s) and Qianfan bge-large-en (512 WordPiece tokens, bounded). The figure is the time for 1 MB over 2 s
(target <= 1), and the time per character at 1 MB over that at 125 kB (about 1: linear).

    python benchmarks/split.py
"""

from __future__ import annotations

import random
import time

from _common import summary

from cn_embeddings import QianfanClient, TencentCloudClient


def seconds(model: str, n: int) -> float:
    rng = random.Random(n)
    words = ["熊猫吃竹子。", "The quick brown fox jumps over the lazy dog. ", "数据", "embedding "]
    text = "".join(rng.choice(words) for _ in range(n // 4))[:n]
    if model.startswith("WeCLIP"):
        client = TencentCloudClient(model, secret_id="i", secret_key="k", long_inputs="split")
    else:
        client = QianfanClient(model, api_key="k" * 8, long_inputs="split")
    started = time.perf_counter()
    (prepared,) = client.validate([text])
    took = time.perf_counter() - started
    assert len(prepared.pieces) > n // 2000  # every piece with content, in order
    return took


def main() -> None:
    for model, name in (("WeCLIPv2-Base", "72chars"), ("bge-large-en", "512tokens")):
        small, large = seconds(model, 125_000), seconds(model, 1_000_000)
        print(f"# {model}: 125 kB {small:.2f} s, 1 MB {large:.2f} s", flush=True)
        summary(f"split_1mb_{name}_vs_2s", large / 2.0, large)
        summary(f"split_{name}_per_char_1mb_vs_125kb", (large / 1_000_000) / (small / 125_000), large)


if __name__ == "__main__":
    main()
