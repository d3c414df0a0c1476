"""The cost of OpenTelemetry tracing and metrics: a call with the SDK recording every span and
metric, against the same call with nothing configured.

Qianfan embedding-v1, 2,000 texts (125 requests) on the emulator at 1 ms latency, no quota.
The global providers can be set only once in a process, so each contender is a process of its
own that makes a warm-up call and then REPS timed calls; rounds alternate the two. ``on``
exports every span through the SDK's batch span processor (what a production setup uses: spans
are exported from a thread of its own) to an exporter that counts them and lets them go, as one
that sends them does, and collects the metrics in memory; ``--simple`` uses the simple span
processor instead, which exports in the caller's thread. (The SDK's in-memory exporter keeps
every span of the process: a heap that grows by 126 spans a call, which each full garbage
collection walks, and which no production exporter keeps.) The figure is the median call with
tracing over the median without (target: below 1.05).

    python benchmarks/tracing.py [--reps 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from _common import CREDS, emulator, median, summary

TEXTS = 2000


def one(which: str, url: str, reps: int) -> list[float]:
    if which in ("on", "simple"):
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class Counting(SpanExporter):
            def __init__(self) -> None:
                self.count = 0

            def export(self, spans):  # type: ignore[no-untyped-def]
                self.count += len(spans)
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        exporter = Counting()
        processor = SimpleSpanProcessor if which == "simple" else BatchSpanProcessor
        provider.add_span_processor(processor(exporter))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    from cn_embeddings import QianfanClient

    client = QianfanClient("embedding-v1", api_key=CREDS["qianfan"], base_url=url + "/v2", requests_per_second=0)
    texts = [f"text {i}" for i in range(TEXTS)]
    client.embed(texts)  # warm: connections open, modules imported
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        assert len(client.embed(texts).vectors) == TEXTS
        times.append(time.perf_counter() - started)
    if which in ("on", "simple"):
        provider.force_flush()
        assert exporter.count == (reps + 1) * 126, "a call span and 125 attempt spans a call"
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", nargs=3)
    parser.add_argument("--simple", action="store_true", help="the simple span processor, not the batch one")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], int(args.one[2]))))
        return
    with emulator(latency_ms=1) as server:
        on = "simple" if args.simple else "on"
        times: dict[str, list[float]] = {"off": [], on: []}
        for _ in range(args.rounds):
            for which in times:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", which, server.url, str(args.reps)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times[which].append(statistics.median(json.loads(out.stdout.strip().splitlines()[-1])))
    off, traced = median(times["off"]), median(times[on])
    print(f"# {TEXTS} texts at 1 ms: off {off * 1000:.1f} ms, {on} {traced * 1000:.1f} ms", flush=True)
    summary("tracing_simple_vs_off" if args.simple else "tracing_on_vs_off", traced / off, traced)


if __name__ == "__main__":
    main()
