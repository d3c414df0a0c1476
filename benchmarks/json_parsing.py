"""Client CPU per vector for float JSON answers: json against orjson, through our whole parser.

Qianfan (16 x 384) and Tencent (10 x 512) answers, parsed by the vendor
modules' ``parse_response`` with the stdlib ``json`` and with ``orjson``
swapped in as the loader. Reports the ratio (json / orjson CPU) for each; the
project uses orjson when installed because the ratio is above 1.5.

    python benchmarks/json_parsing.py [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import random
import time

import httpx
import orjson

from cn_embeddings import QianfanClient, TencentCloudClient
from cn_embeddings.vendors import _common

ROUNDS = 300


def answers() -> dict[str, tuple[object, list, bytes]]:
    rng = random.Random(1)
    qianfan = QianfanClient("embedding-v1", api_key="k" * 20)
    tencent = TencentCloudClient("WeCLIPv2-Base", secret_id="AKID" + "x" * 20, secret_key="s" * 32)
    q_items = qianfan.validate([f"t{i}" for i in range(16)])
    t_items = tencent.validate([f"t{i}" for i in range(10)])
    q_body = {
        "object": "list",
        "id": "as-1",
        "created": 1,
        "data": [
            {"object": "embedding", "index": i, "embedding": [rng.uniform(-1, 1) for _ in range(384)]}
            for i in range(16)
        ],
        "usage": {"prompt_tokens": 32, "total_tokens": 32},
    }
    t_body = {
        "Response": {
            "Data": {
                "TextEmbeddings": [
                    {"Index": i, "Embedding": [rng.uniform(-1, 1) for _ in range(512)]} for i in range(10)
                ]
            },
            "Usage": {"TotalTokens": 20},
            "RequestId": "r-1",
        }
    }
    return {
        "qianfan": (qianfan.protocol, q_items, json.dumps(q_body).encode()),
        "tencent": (tencent.protocol, t_items, json.dumps(t_body).encode()),
    }


def cpu_per_vector(protocol, items, body: bytes) -> float:
    response = httpx.Response(
        200, content=body, headers={"Content-Type": "application/json"}, request=httpx.Request("POST", "http://x")
    )
    protocol.parse_response(response, items)  # warm up and check it parses
    started = time.process_time()
    for _ in range(ROUNDS):
        protocol.parse_response(response, items)
    return (time.process_time() - started) / (ROUNDS * len(items))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    for vendor, (protocol, items, body) in answers().items():
        times: dict[str, list[float]] = {"json": [], "orjson": []}
        for _ in range(args.reps):
            for name, loads in (("json", json.loads), ("orjson", orjson.loads)):
                _common.json_loads = loads
                times[name].append(cpu_per_vector(protocol, items, body))
        j, o = sorted(times["json"])[len(times["json"]) // 2], sorted(times["orjson"])[len(times["orjson"]) // 2]
        print(f"  {vendor}: json {j * 1e6:.1f} us/vector, orjson {o * 1e6:.1f} us/vector")
        print(f"json_vs_orjson_{vendor} {j / o:.2f} {o * 1e6:.4f}", flush=True)


if __name__ == "__main__":
    main()
