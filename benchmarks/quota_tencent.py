"""Scenario 2: Tencent WeCLIPv2-Base, 1,000 texts against an emulator quota of 10 requests/s per model.

1,000 texts / 10 per request / 10 requests per second = 10 s; the target is
completion with zero errors surfaced in at most 11.1 s (>= 90% of the quota
bound). The official tencentcloud SDK in a loop is reported alongside, with
and without its StandardRetryer.

    python benchmarks/quota_tencent.py [--reps 3]
"""

from __future__ import annotations

import argparse
import time

from _common import CREDS, emulator, median, summary

from cn_embeddings import CNEmbeddingsError, TencentCloudClient

TEXTS = [f"text number {i}" for i in range(1000)]
QPS = 10


def ours(url: str) -> tuple[float, int, int]:
    client = TencentCloudClient(
        "WeCLIPv2-Base", secret_id=CREDS["secret_id"], secret_key=CREDS["secret_key"], base_url=url
    )
    started = time.perf_counter()
    try:
        result = client.embed(TEXTS)
    except CNEmbeddingsError:
        return time.perf_counter() - started, 1, 0
    assert len(result.vectors) == 1000
    return time.perf_counter() - started, 0, result.usage.retries


def sdk(url: str, retryer: bool) -> tuple[float, int, int]:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.common.retry import StandardRetryer
    from tencentcloud.es.v20250101 import es_client, models

    profile = ClientProfile(
        httpProfile=HttpProfile(protocol="http", endpoint=url.split("://", 1)[1]),
        retryer=StandardRetryer(max_attempts=3) if retryer else None,
    )
    client = es_client.EsClient(credential.Credential(CREDS["secret_id"], CREDS["secret_key"]), "ap-guangzhou", profile)
    errors = 0
    started = time.perf_counter()
    for start in range(0, len(TEXTS), 10):
        request = models.GetMultiModalEmbeddingRequest()
        request.ModelName, request.Texts = "WeCLIPv2-Base", TEXTS[start : start + 10]
        try:
            client.GetMultiModalEmbedding(request)
        except TencentCloudSDKException:
            errors += 1
    return time.perf_counter() - started, errors, 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, int, int]]] = {
        "ours": [],
        "tencentcloud SDK loop": [],
        "tencentcloud SDK loop + StandardRetryer": [],
    }
    for _ in range(args.reps):
        for name, run in (
            ("ours", ours),
            ("tencentcloud SDK loop", lambda u: sdk(u, False)),
            ("tencentcloud SDK loop + StandardRetryer", lambda u: sdk(u, True)),
        ):
            with emulator(qps=QPS) as server:  # a fresh quota for every run
                rows[name].append(run(server.url))
    for name, runs in rows.items():
        print(
            f"  {name:42s} median {median([r[0] for r in runs]):.2f}s  failed requests "
            f"{[r[1] for r in runs]}  retries {[r[2] for r in runs]}"
        )
    ours_time = median([r[0] for r in rows["ours"]])
    assert all(r[1] == 0 for r in rows["ours"]), "errors surfaced"
    bound = len(TEXTS) / 10 / QPS
    summary("tencent_quota_1000", bound / ours_time, ours_time)


if __name__ == "__main__":
    main()
