"""Ray Data on a local cluster (2 CPUs): rows per second against the quota bound.

16,000 rows through ``embed_dataset`` with Qianfan embedding-v1 (16 texts a
request), two worker actors sharing one quota of QPS requests per second in
Redis, against an emulator enforcing the same quota. The bound is
16,000 / 16 / QPS seconds; start-up of the actors is included.

    python benchmarks/ray_data.py [--qps 20]
"""

from __future__ import annotations

import argparse
import time

from _common import CREDS, emulator, redis_server, summary

N = 16000


def main() -> None:
    import ray

    from cn_embeddings.ray import embed_dataset

    parser = argparse.ArgumentParser()
    parser.add_argument("--qps", type=float, default=20)
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with redis_server() as redis_url, emulator(qps=args.qps) as server:
            ds = ray.data.from_items([{"text": f"第 {i} 行"} for i in range(N)])
            started = time.perf_counter()
            rows = embed_dataset(
                ds,
                "qianfan",
                "embedding-v1",
                api_key=CREDS["qianfan"],
                base_url=server.url + "/v2",
                requests_per_second=args.qps,
                quota_url=redis_url,
                max_retries=10,
                concurrency=2,
            ).count()
            seconds = time.perf_counter() - started
    finally:
        ray.shutdown()
    assert rows == N
    bound = N / 16 / args.qps
    print(
        f"  {N} rows in {seconds:.1f} s: {N / seconds:.0f} rows/s; quota bound {bound:.1f} s ({N / bound:.0f} rows/s)"
    )
    summary("ray_data_16000_vs_bound", bound / seconds, N / seconds)


if __name__ == "__main__":
    main()
