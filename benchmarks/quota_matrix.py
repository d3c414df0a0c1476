"""Rate control against every kind of quota, at three latencies, with default settings.

Each scenario starts the emulator (one quota kind, one latency) and a client in a cold
process of its own (``python quota_matrix.py --one ...``), so no scenario inherits a rate
another found. The client embeds N texts one request each; the figure is the time the quota
allows for them over the wall time (1.0: at the quota), with the share of requests refused.
Every call must succeed with the default retries.

``--mode`` says how the emulator's quota behaves, since no vendor documents it: ``fast`` decides as
a request arrives and refuses at once (what gateways do; the default), ``late`` decides on arrival
but answers a refusal after the whole latency, ``departure`` decides as the answer leaves.
``--jitter`` spreads every latency by that share (0.2: +-10%). ``--told``: every answer tells the
quota in Qianfan's rate-limit headers.

    python benchmarks/quota_matrix.py [--seconds 20] [--vendors ark,qianfan,tencent] [--latencies 50,300,1000]
        [--only-50ms qianfan] [--mode fast|late|departure] [--jitter 0.2] [--told]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence

from _common import CREDS, emulator, summary

KINDS = ("moving", "fixed", "bucket", "counting")
LATENCIES = (50, 300, 1000)
MODES = {
    "fast": ["--quota-admit", "arrival", "--refuse-ms", "0"],
    "late": ["--quota-admit", "arrival", "--refuse-ms", "-1"],
    "departure": ["--quota-admit", "departure"],
}


def one(vendor: str, url: str, n: int, tokens: bool) -> None:
    """In the cold process: embed ``n`` texts, print the wall time and the usage as JSON."""
    from cn_embeddings import ArkClient, QianfanClient, TencentCloudClient

    if vendor == "ark":
        client = ArkClient(api_key=CREDS["ark"], base_url=url + "/api/v3")
    elif vendor == "qianfan":
        client = QianfanClient("embedding-v1", api_key=CREDS["qianfan"], base_url=url + "/v2", batch_size=1)
    else:
        client = TencentCloudClient(
            "bge-base-zh-v1.5", secret_id=CREDS["secret_id"], secret_key=CREDS["secret_key"], base_url=url, batch_size=1
        )
    text = "令" * 180 if tokens else "text"
    started = time.perf_counter()
    result = client.embed([f"{i} {text}" for i in range(n)])
    seconds = time.perf_counter() - started
    assert len(result.vectors) == n
    print(json.dumps({"seconds": seconds, "requests": client.usage.requests, "retries": client.usage.retries}))


def scenario(
    vendor: str, kind: str, latency: int, rate: float, seconds: float, tokens: bool = False, model: Sequence[str] = ()
) -> tuple:
    n = int(rate * seconds) if not tokens else int(20 * seconds)
    limit = rate if not tokens else 20 * 200  # tokens: 20 requests/s of about 200 tokens
    with emulator(latency_ms=latency, qps=limit, quota_kind=kind, extra=model) as server:
        out = subprocess.run(
            [sys.executable, __file__, "--one", vendor, server.url, str(n)] + (["--tokens"] if tokens else []),
            capture_output=True,
            text=True,
            timeout=600,
        )
    if out.returncode:
        return None, out.stderr.strip().splitlines()[-1:]
    run = json.loads(out.stdout.strip().splitlines()[-1])
    per_second = rate if not tokens else 20
    return (n / per_second) / run["seconds"], run["retries"] / run["requests"] * 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only-50ms", default="", help="vendors to run at 50 ms only (a shorter run)")
    parser.add_argument("--vendors", default="ark,qianfan,tencent")
    parser.add_argument("--latencies", default=",".join(map(str, LATENCIES)))
    parser.add_argument("--one", nargs=3)
    parser.add_argument("--tokens", action="store_true")
    parser.add_argument("--mode", choices=MODES, default="fast")
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--told", action="store_true", help="answers tell the quota in rate-limit headers")
    args = parser.parse_args()
    if args.one:
        one(args.one[0], args.one[1], int(args.one[2]), args.tokens)
        return
    model = [*MODES[args.mode], "--latency-jitter", str(args.jitter)] + (["--ratelimit-headers"] if args.told else [])
    tag = "" if args.mode == "fast" and not args.jitter else f"_{args.mode}_jitter{args.jitter:g}"
    tag += "_told" if args.told else ""
    rates = {"ark": 60.0, "qianfan": 10.0, "tencent": 20.0}  # Tencent: its documented 20/s text quota
    for vendor in args.vendors.split(","):
        for kind in KINDS:
            latencies = [50] if vendor in args.only_50ms.split(",") else map(int, args.latencies.split(","))
            for latency in latencies:
                ratio, refused = scenario(vendor, kind, latency, rates[vendor], args.seconds, model=model)
                if ratio is None:
                    print(f"# {vendor} {kind} {latency} ms failed: {refused}", flush=True)
                    continue
                summary(f"quota_{vendor}_{kind}_{latency}ms{tag}_vs_bound", ratio, refused)
    ratio, refused = scenario("qianfan", "tokens", 50, 20.0, args.seconds, tokens=True, model=model)
    if ratio is not None:
        summary(f"quota_qianfan_tokens_50ms{tag}_vs_bound", ratio, refused)
    ratio, refused = scenario("ark", "moving", 300, 120.0, args.seconds, model=model)
    if ratio is not None:
        summary(f"quota_ark_high_rate_120_300ms{tag}_vs_bound", ratio, refused)


if __name__ == "__main__":
    main()
