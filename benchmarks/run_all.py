"""Run every benchmark scenario and write its report to benchmarks/history/run_all-DATE.md (machine,
date, medians, ratios, targets); BENCHMARKS.md keeps the current figures, one table per area.

python benchmarks/run_all.py [--reps 3]
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

from _common import machine

HERE = Path(__file__).resolve().parent
# script, summary name, target text, check on the ratio
SCENARIOS = [
    ("throughput_qianfan.py", "qianfan_2000_vs_peers", "ours >= 6x faster than each peer", lambda r, v: r >= 6),
    (
        "quota_tencent.py",
        "tencent_quota_1000",
        ">= 0.9 of the quota bound (<= 11.1 s), no errors",
        lambda r, v: r >= 0.9,
    ),
    ("fanout_ark.py", "ark_400_vs_sdk_loop", ">= 6x the SDK loop", lambda r, v: r >= 6),
    ("cpu.py", "ark_base64_vs_float_cpu", "base64 >= 3x less CPU than float JSON", lambda r, v: r >= 3),
    ("cpu.py", "per_request_overhead_vs_bare_httpx", "<= 1.3x a bare httpx post + json.loads", lambda r, v: r <= 1.3),
    ("memory.py", "memory_20000_peak_vs_vectors", "peak RSS growth <= 1.5x the vectors' size", lambda r, v: r <= 1.5),
    *[
        scenario
        for kind in ("parquet", "lance", "qdrant")
        for scenario in (
            ("bulk_cli.py", f"bulk_cli_100000_{kind}_vs_quota", ">= 0.95 of the quota bound", lambda r, v: r >= 0.95),
            (
                "bulk_cli.py",
                f"bulk_cli_rss_{kind}_100000_vs_10000",
                "peak RSS for 100,000 <= 1.2x that for 10,000",
                lambda r, v: r <= 1.2,
            ),
        )
    ],
    (
        "resume_memory.py",
        "resume_memory_bytes_per_row_vs_16",
        "resume memory <= 16 bytes a row (value: bytes)",
        lambda r, v: r <= 1,
    ),
    *[
        (
            "shared_quota.py",
            f"shared_quota_3_processes_{kind}_vs_bound",
            ">= 0.9 of the quota, <= 1% throttled (value: %)",
            lambda r, v: r >= 0.9 and v <= 1,
        )
        for kind in ("bucket", "moving", "fixed", "counting")
    ],
    ("ray_data.py", "ray_data_16000_vs_bound", "rows/s against the quota bound (reported)", lambda r, v: r > 0),
    (
        "limiter_overload.py",
        "limiter_random_429_zero_waits_vs_clean",
        "20% random overload 429s: <= 1.3x the clean time (retry waits zero)",
        lambda r, v: r <= 1.3,
    ),
    (
        "limiter_overload.py",
        "limiter_random_429_backoff_vs_clean",
        "20% random overload 429s, default backoff: <= 1.3x the clean time",
        lambda r, v: r <= 1.3,
    ),
    *[
        (
            "quota_matrix.py",
            f"quota_{vendor}_{kind}_{latency}ms_vs_bound",
            ">= 0.9 of the quota bound, <= 5% refused (value: %)",
            lambda r, v: r >= 0.9 and v <= 5,
        )
        for vendor in ("ark", "tencent")
        for kind in ("moving", "fixed", "bucket", "counting")
        for latency in (50, 300, 1000)
    ],
    *[
        (
            "quota_matrix.py",
            f"quota_qianfan_{kind}_50ms_vs_bound",
            ">= 0.9 of the quota bound, <= 5% refused (value: %)",
            lambda r, v: r >= 0.9 and v <= 5,
        )
        for kind in ("moving", "fixed", "bucket", "counting")
    ],
    (
        "quota_matrix.py",
        "quota_qianfan_tokens_50ms_vs_bound",
        ">= 0.9 of a token quota, <= 5% refused",
        lambda r, v: r >= 0.9 and v <= 5,
    ),
    (
        "quota_matrix.py",
        "quota_ark_high_rate_120_300ms_vs_bound",
        ">= 0.9 of a 120/s quota at 300 ms",
        lambda r, v: r >= 0.9,
    ),
    (
        "event_loop.py",
        "event_loop_longest_stall_ms_quota_url_vs_local",
        "longest stall with quota_url < 10 ms (value: ms)",
        lambda r, v: v < 10,
    ),
    (
        "interrupts.py",
        "interrupts_2000_sync_calls_later_calls_ok",
        "no leak, no untyped error, later calls all succeed (value: interrupts)",
        lambda r, v: r == 1,
    ),
    (
        "image_fit.py",
        "image_fit_jpeg_48mp_peak_vs_4x_output",
        "peak RSS growth <= 4x the output's decoded size + 32 MiB",
        lambda r, v: r <= 1,
    ),
    (
        "image_fit.py",
        "image_fit_png_36mp_peak_vs_4_bytes_per_input_pixel",
        "a PNG is decoded whole (reported)",
        lambda r, v: r > 0,
    ),
    (
        "image_fit.py",
        "image_fit_bomb_refused_peak_vs_32mib",
        "a 13,000 x 13,000 PNG bomb refused within 32 MiB",
        lambda r, v: r <= 1,
    ),
    ("rerank.py", "rerank_1000_tencent_default_vs_tencentcloud_loop", ">= 5x the SDK loop", lambda r, v: r >= 5),
    *[
        (
            "rerank.py",
            f"rerank_1000_{vendor}_default_vs_httpx_loop",
            ">= 5x the httpx loop (quota unknown: the controller's initial rate)",
            lambda r, v: r >= 5,
        )
        for vendor in ("qianfan", "volcengine")
    ],
    *[
        (
            "rerank.py",
            f"rerank_1000_{vendor}_rps50_vs_quota_bound",
            ">= 0.9 of a 50/s quota's bound",
            lambda r, v: r >= 0.9,
        )
        for vendor in ("qianfan", "volcengine")
    ],
    (
        "multivector_memory.py",
        "multivector_8192_rows_peak_vs_decoded",
        "peak RSS growth <= 3x the decoded float32 size",
        lambda r, v: r <= 3,
    ),
    ("json_parsing.py", "json_vs_orjson_qianfan", "orjson used if > 1.5x faster", lambda r, v: r > 0),
    ("json_parsing.py", "json_vs_orjson_tencent", "orjson used if > 1.5x faster", lambda r, v: r > 0),
    *[
        (
            "pay_once.py",
            f"update_{kind}_paid_texts_vs_changed",
            "an update pays for exactly the changed and new texts",
            lambda r, v: r == 1,
        )
        for kind in ("parquet", "lance", "qdrant")
    ],
    *[
        ("pay_once.py", f"update_{kind}_time_vs_first_run", "<= 0.15 of the first run", lambda r, v: r <= 0.15)
        for kind in ("parquet", "lance", "qdrant")
    ],
    ("pay_once.py", "cache_sqlite_100000_lookups_s", "< 1 s", lambda r, v: v < 1),
    ("pay_once.py", "cache_redis_100000_lookups_s", "< 2 s", lambda r, v: v < 2),
    ("pay_once.py", "cache_memory_100000_vs_10000_entries", "flat in the cache's size", lambda r, v: r <= 1.1),
    *[
        ("engines.py", f"engine_{engine}_vs_bound", ">= 0.9 of the quota bound", lambda r, v: r >= 0.9)
        for engine in ("daft", "spark")
    ],
    *[
        ("engines.py", f"engine_{engine}_refused_pct", "<= 1% refused", lambda r, v: r <= 1)
        for engine in ("daft", "spark")
    ],
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    outputs: dict[str, str] = {}
    for script in dict.fromkeys(s[0] for s in SCENARIOS):
        extra = {"memory.py": [], "quota_matrix.py": ["--only-50ms", "qianfan"], "pay_once.py": [], "engines.py": []}
        cmd = [sys.executable, str(HERE / script)] + extra.get(script, ["--reps", str(args.reps)])
        print(f"$ {' '.join(cmd[1:])}", flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{script} failed:\n{done.stdout}\n{done.stderr}")
        outputs[script] = done.stdout
        print(outputs[script], flush=True)
    summaries = {}
    for text in outputs.values():
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and not line.startswith(" "):
                summaries[parts[0]] = (float(parts[1]), float(parts[2]))
    rows = []
    for _script, name, target, ok in SCENARIOS:
        ratio, value = summaries[name]
        rows.append(f"| {name} | {ratio:.2f} | {value:.4g} | {target} | {'met' if ok(ratio, value) else 'MISSED'} |")
    details = "\n\n".join(f"`{script}`\n\n```\n{text.rstrip()}\n```" for script, text in outputs.items())
    today = datetime.date.today().isoformat()
    (HERE / "history" / f"run_all-{today}.md").write_text(
        f"""# Benchmarks

Measured {today} on {machine()}, with `python benchmarks/run_all.py --reps {args.reps}`.
Every scenario runs against the project's emulator in a separate process on 127.0.0.1 (so these are
not measurements of the real services), contenders side by side and interleaved in one run;
times are medians over the repetitions. The machine is shared and noisy: compare ratios, not
absolute seconds. Each script prints one parseable line per scenario: `name ratio value`.

| scenario | ratio | value | target | |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Value column: seconds for ours (scenarios 1-3), CPU seconds per 1,000 base64 vectors, CPU seconds
per request, MiB of peak RSS growth; bulk: seconds for 100,000 texts, then MiB of peak RSS; shared
quota: % of requests throttled; Ray: rows per second; limiter: seconds, then % refused; json:
microseconds of CPU per vector with orjson.

## Notes

- Scenario 1: the peers keep one request in flight, so 125 requests each pay the 50 ms latency plus
  their own per-request work (the openai client spends about 30 ms turning 16 float vectors into
  objects). Ours keeps `max_concurrency` (8) requests in flight and is then bound by JSON parsing
  on this 2-core machine, which it shares with the emulator process. Both sides get identical
  vectors (checked before timing).
- Scenario 2: without its retryer, the official SDK in a loop fails most requests with
  `RequestLimitExceeded`; with `StandardRetryer` (3 attempts, 2^n s backoff) it is about 5x slower
  and still fails some. Ours spaces requests at the documented 10/s and surfaces no error.
- Scenario 4a misses its target because the bench extras install orjson, and the 3x target was
  set against the stdlib json. Both paths end in 2,048 Python floats per vector, and building
  those dominates. In a side check on this machine, per 1,000 vectors:
  - orjson parsing the float JSON: 84 ms;
  - orjson, base64 decoding and `array.tolist()`: 107 ms;
  - `tolist()` alone: 60 ms;
  - the stdlib json parsing the float JSON: 936 ms.
  Base64 remains the default because its answers are about 4x smaller on the wire.
- Scenario 4b: both sides hit the same emulator with the same 2048-d float answer; the figure is
  client CPU per request, so it is our whole path (validation, planning, signing-free bearer auth,
  retry flow, limiter, parsing and vector checks) against the bare minimum.
- Scenario 5: the growth of peak RSS during the call (the peak is reset after a warm-up call)
  against the vectors' own size (the lists and their float objects); the interpreter's baseline is
  not counted.
- Bulk: `cn-embeddings embed` in a subprocess, .txt in, Parquet out, Qianfan embedding-v1 at an
  emulator quota of 40 requests/s with `--rps 40`; the ratio is the quota bound (N / 16 / 40 s)
  over the run's wall time, start-up and the checking pass included. RSS is the CLI process's
  ru_maxrss.
- Shared quota: three spawned processes, 100 requests each, one account and model, emulator quota
  20/s; with `quota_url` (a real redis-server) and, side by side, without it.
- Ray: `embed_dataset` on a local 2-CPU cluster, two actors sharing the quota through Redis; actor
  start-up (about 10 s) is inside the time.
- Limiter: 3,000 Ark texts, 20% of answers refused at random with Ark's quota code, against the
  same call without refusals; then a real 50/s quota. Refused requests wait out their backoff
  while other batches use their place on the wire (2 x `max_concurrency` workers), so the default
  backoff costs little more than zero waits.
- json: our whole answer parser with the stdlib json against orjson as the loader; orjson is used
  when installed because the ratio is above 1.5.

## Raw output

{details}
""",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
