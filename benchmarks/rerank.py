"""Rerank 1,000 documents for one query at 100 ms emulator latency, each run in a cold process.

Ours (defaults) against a plain loop of the official SDK where one covers the API (Tencent:
tencentcloud-sdk-python-es ``RunRerank``), else of httpx (Qianfan ``/v2/rerank``; Volcengine,
signed with the volcengine SDK's own ``SignerV4``), each request as large as the API takes.
Target: ours at least 5x faster. Qianfan and Volcengine document no quota, so ours starts at
the rate controller's initial rate; they are also run with ``requests_per_second`` set, as a
user who knows the quota would.

    python benchmarks/rerank.py [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import emulator, median, summary

from cn_embeddings.testing import Credentials

CREDS = Credentials()
QUERY = "what do giant pandas eat"
DOCS = [f"document {i}: " + ("giant pandas eat bamboo" if i % 97 == 3 else "a weather report") for i in range(1000)]

OURS = r"""
import json, sys, time
from cn_embeddings import QianfanRerankClient, TencentCloudRerankClient, VolcengineRerankClient
vendor, url, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
from cn_embeddings.testing import Credentials
c = Credentials()
creds = {"qianfan": {"api_key": c.qianfan_api_key, "base_url": url + "/v2"},
         "tencent": {"secret_id": c.secret_id, "secret_key": c.secret_key, "base_url": url},
         "volcengine": {"access_key": c.volc_access_key, "secret_key": c.volc_secret_key, "base_url": url}}[vendor]
cls = {"qianfan": QianfanRerankClient, "tencent": TencentCloudRerankClient,
       "volcengine": VolcengineRerankClient}[vendor]
client = cls(**creds, **options)
docs = json.loads(sys.stdin.read())
started = time.perf_counter()
result = client.rerank(sys.argv[4], docs, top_n=10)
print(time.perf_counter() - started, result.results[0].index)
"""


def ours(vendor: str, url: str, options: dict) -> float:
    done = subprocess.run(
        [sys.executable, "-c", OURS, vendor, url, json.dumps(options), QUERY],
        input=json.dumps(DOCS),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[0])


def tencent_sdk(url: str) -> float:
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.es.v20250101 import es_client, models

    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=url.split("://", 1)[1]))
    client = es_client.EsClient(credential.Credential(CREDS.secret_id, CREDS.secret_key), "ap-guangzhou", profile)
    started = time.perf_counter()
    for start in range(0, len(DOCS), 50):
        request = models.RunRerankRequest()
        request.ModelName, request.Query, request.Documents = "bge-reranker-large", QUERY, DOCS[start : start + 50]
        client.RunRerank(request)
    return time.perf_counter() - started


def qianfan_httpx(url: str) -> float:
    import httpx

    started = time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {CREDS.qianfan_api_key}"}) as client:
        for start in range(0, len(DOCS), 64):
            client.post(
                url + "/v2/rerank",
                json={"model": "bce-reranker-base", "query": QUERY, "documents": DOCS[start : start + 64]},
            ).raise_for_status()
    return time.perf_counter() - started


def volcengine_httpx(url: str) -> float:
    import httpx
    from volcengine.auth.SignerV4 import SignerV4
    from volcengine.base.Request import Request
    from volcengine.Credentials import Credentials as VolcCredentials

    credentials = VolcCredentials(CREDS.volc_access_key, CREDS.volc_secret_key, "air", "cn-north-1")
    host = url.split("://", 1)[1]
    started = time.perf_counter()
    with httpx.Client() as client:
        for start in range(0, len(DOCS), 50):
            body = json.dumps(
                {
                    "datas": [{"query": QUERY, "content": d} for d in DOCS[start : start + 50]],
                    "rerank_model": "base-multilingual-rerank",
                }
            )
            request = Request()
            request.method, request.path, request.body = "POST", "/api/knowledge/service/rerank", body
            request.headers = {"Host": host, "Content-Type": "application/json"}
            SignerV4.sign(request, credentials)
            client.post(url + request.path, content=body.encode(), headers=request.headers).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    cases = [
        ("tencent", "tencentcloud SDK loop", tencent_sdk, {}),
        ("qianfan", "httpx loop", qianfan_httpx, {}),
        ("qianfan", "httpx loop", qianfan_httpx, {"requests_per_second": 50}),
        ("volcengine", "httpx + SignerV4 loop", volcengine_httpx, {}),
        ("volcengine", "httpx + SignerV4 loop", volcengine_httpx, {"requests_per_second": 50}),
    ]
    with emulator(latency_ms=100) as server:
        for vendor, peer_name, peer, options in cases:
            times: dict[str, list[float]] = {"ours": [], "peer": []}
            for _ in range(args.reps):  # interleaved, so noise hits both alike
                times["ours"].append(ours(vendor, server.url, options))
                times["peer"].append(peer(server.url))
            mine, theirs = median(times["ours"]), median(times["peer"])
            label = "rps50" if options else "default"
            print(f"  {vendor} ({label}): ours {mine:.3f} s, {peer_name} {theirs:.3f} s")
            summary(f"rerank_1000_{vendor}_{label}_vs_{peer_name.split()[0]}_loop", theirs / mine, mine)
            if options:  # the quota binds: the least time it allows is the requests spaced at the rate
                requests = -(-len(DOCS) // (64 if vendor == "qianfan" else 50))
                bound = (requests - 1) / options["requests_per_second"] + 0.1
                summary(f"rerank_1000_{vendor}_{label}_vs_quota_bound", bound / mine, mine)


if __name__ == "__main__":
    main()
