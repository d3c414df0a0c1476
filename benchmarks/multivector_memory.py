"""Peak memory of decoding Ark multi-vectors: one input whose answer holds 8,192 token rows
(2048-d float16, zstd-compressed as the Go SDK asks for them), each run in a cold process.

Peak RSS growth during the call (VmHWM, reset after a warm-up call) against the decoded size
(rows x 2048 x 4 bytes of float32). Target: at most 3x. With ``--baseline PATH`` (a checkout of an
earlier version) the same run is made with it, side by side.

    python benchmarks/multivector_memory.py [--baseline /path/to/older/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import summary

ROWS = 8192

CHILD = r"""
import base64, json, struct, sys
import httpx, numpy, zstandard
from cn_embeddings import ArkClient

def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

rows = int(sys.argv[1])
matrix = numpy.random.default_rng(1).normal(0, 0.05, (rows, 2048)).astype("<f2").tobytes()  # real entropy
row = matrix[:4096]
frame = base64.b64encode(zstandard.ZstdCompressor().compress(matrix)).decode()
dense = base64.b64encode(struct.pack("<2048f", *([0.01] * 2048))).decode()
body = json.dumps({"data": {"embedding": dense, "multi_embedding": frame},
                   "usage": {"prompt_tokens": rows, "total_tokens": rows}}).encode()
small = json.dumps({"data": {"embedding": dense, "multi_embedding": base64.b64encode(
    zstandard.ZstdCompressor().compress(row)).decode()}, "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
answers = [small, body]
del matrix, frame

def handler(request):
    return httpx.Response(200, headers={"Content-Type": "application/json"}, content=answers.pop(0))

client = ArkClient("doubao-embedding-vision-251215", api_key="k" * 20, multi_embedding=True, requests_per_second=0,
                   http_client=httpx.Client(transport=httpx.MockTransport(handler)))
client.embed(["warm-up"])
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status("VmRSS")
result = client.embed(["a long document"])
grew = status("VmHWM") - before
print(json.dumps({"grew": grew, "rows": len(result.multi_vectors[0]), "body": len(body)}))
"""


def run(package_root: Path | None) -> dict:
    env = dict(os.environ)
    if package_root is not None:
        env["PYTHONPATH"] = str(package_root)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROWS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )  # so PYTHONPATH, not the current folder, decides
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, help="a checkout of an earlier version, run side by side")
    args = parser.parse_args()
    decoded = ROWS * 2048 * 4
    ours = run(None)
    print(
        f"  {ROWS} rows: decoded {decoded / 2**20:.0f} MiB, answer body {ours['body'] / 2**20:.1f} MiB; "
        f"peak grew {ours['grew'] / 2**20:.0f} MiB"
    )
    summary("multivector_8192_rows_peak_vs_decoded", ours["grew"] / decoded, ours["grew"] / 2**20)
    if args.baseline:
        old = run(args.baseline)
        print(f"  baseline: peak grew {old['grew'] / 2**20:.0f} MiB")
        summary("multivector_8192_rows_baseline_peak_vs_decoded", old["grew"] / decoded, old["grew"] / 2**20)


if __name__ == "__main__":
    main()
