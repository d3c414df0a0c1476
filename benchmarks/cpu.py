"""Scenario 4: client CPU.

(a) Per 1,000 Ark vectors of 2048 dimensions: decoding the base64 answer
    against parsing the float JSON answer (target: base64 at least 3x less CPU).
(b) Our per-request overhead against a bare ``httpx.Client.post`` + ``json.loads``
    of the same answer from the same emulator (target: within 1.3x client CPU).

    python benchmarks/cpu.py [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import time

import httpx
from _common import CREDS, emulator, median, summary

from cn_embeddings import ArkClient, Item
from cn_embeddings.testing import _vectors
from cn_embeddings.vendors.ark import ArkProtocol

MODEL = "doubao-embedding-vision-250615"


def parse_cpu(protocol: ArkProtocol, bodies: list[bytes], items: list[Item]) -> float:
    started = time.process_time()
    for body in bodies:
        protocol.parse_response(httpx.Response(200, content=body), items)
    return time.process_time() - started


def decoding(reps: int) -> tuple[float, float]:
    items = [Item(text="x")]
    bodies = {
        fmt: [
            _vectors.dumps(
                {"data": {"embedding": _vectors.embed_json(MODEL, 2048, text=f"t{i}", encoding=fmt)}}
            ).encode()
            for i in range(1000)
        ]
        for fmt in ("base64", "float")
    }
    protocols = {fmt: ArkProtocol(encoding_format=fmt) for fmt in bodies}
    times: dict[str, list[float]] = {"base64": [], "float": []}
    for _ in range(reps):
        for fmt in times:
            times[fmt].append(parse_cpu(protocols[fmt], bodies[fmt], items))
    return median(times["base64"]), median(times["float"])


def overhead(reps: int, n: int = 300) -> tuple[float, float]:
    texts = [f"request {i}" for i in range(n)]
    with emulator() as server:
        base = server.url + "/api/v3"
        ours = ArkClient(
            MODEL,
            api_key=CREDS["ark"],
            base_url=base,
            encoding_format="float",
            max_concurrency=1,
            requests_per_second=0,
        )
        bare = httpx.Client()
        headers = {"Authorization": f"Bearer {CREDS['ark']}", "Content-Type": "application/json"}
        bodies = [
            json.dumps(
                {"model": MODEL, "input": [{"type": "text", "text": t}], "encoding_format": "float"},
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            for t in texts
        ]

        def run_ours() -> float:
            started = time.process_time()
            for t in texts:
                ours.embed_texts([t])
            return time.process_time() - started

        def run_bare() -> float:
            started = time.process_time()
            for body in bodies:
                json.loads(bare.post(base + "/embeddings/multimodal", content=body, headers=headers).content)
            return time.process_time() - started

        run_ours(), run_bare()  # warm both (connections, emulator cache)
        results: dict[str, list[float]] = {"ours": [], "bare": []}
        for _ in range(reps):
            results["ours"].append(run_ours())
            results["bare"].append(run_bare())
    return median(results["ours"]) / n, median(results["bare"]) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    b64, flt = decoding(args.reps)
    print(f"  parse 1,000 x 2048-d vectors: base64 {b64 * 1000:.1f} ms CPU, float JSON {flt * 1000:.1f} ms CPU")
    summary("ark_base64_vs_float_cpu", flt / b64, b64)
    ours, bare = overhead(args.reps)
    print(f"  per request (client CPU): ours {ours * 1e3:.3f} ms, bare httpx.post + json.loads {bare * 1e3:.3f} ms")
    summary("per_request_overhead_vs_bare_httpx", ours / bare, ours)


if __name__ == "__main__":
    main()
