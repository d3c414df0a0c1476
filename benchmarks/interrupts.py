"""Ctrl-C at random moments of 2,000 sync calls on one client, then calls that must all succeed.

Each call embeds 1 to 3 texts (Qianfan, one request each) against the emulator (5 ms latency);
a timer raises KeyboardInterrupt in the calling thread at a random moment within 30 ms. Counted:
interrupts, typed errors, untyped errors (target 0), places in flight still taken once the
workers have finished (target 0), whether the controller's lock is free, and how many of 100
later calls succeed (target all). Not timed.

    python benchmarks/interrupts.py [--calls 2000]
"""

from __future__ import annotations

import _thread
import argparse
import random
import threading
import time

from _common import CREDS, emulator, summary

from cn_embeddings import CNEmbeddingsError, QianfanClient


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=1)  # accepted for run_all
    args = parser.parse_args()
    rng = random.Random(11)
    interrupted = typed = untyped = 0
    with emulator(latency_ms=5) as server:
        client = QianfanClient(
            "embedding-v1", api_key=CREDS["qianfan"], base_url=server.url + "/v2", batch_size=1, requests_per_second=200
        )
        for i in range(args.calls):
            timer = threading.Timer(rng.uniform(0, 0.03), _thread.interrupt_main)
            try:
                try:
                    timer.start()
                    client.embed_texts([f"call {i} text {j}" for j in range(rng.randint(1, 3))])
                except CNEmbeddingsError:
                    typed += 1
                except Exception:  # noqa: BLE001 - what this benchmark counts
                    untyped += 1
                finally:
                    timer.cancel()
                    timer.join()
                    time.sleep(0.001)
            except KeyboardInterrupt:
                interrupted += 1
        deadline = time.monotonic() + 10
        while client.controller.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        leaked = client.controller.in_flight
        stats: list = []  # read in a thread: a lock left held would hang it
        reader = threading.Thread(target=lambda: stats.append(client.controller.stats()), daemon=True)
        reader.start()
        reader.join(1)
        lock_free = bool(stats)
        later = sum(len(client.embed_texts([f"after {k}"])) == 1 for k in range(100))
    print(
        f"  {args.calls} calls: {interrupted} interrupted, {typed} typed errors, {untyped} untyped, "
        f"{leaked} places leaked, lock free: {lock_free}, later calls succeeded: {later} of 100"
    )
    ok = untyped == 0 and leaked == 0 and lock_free and later == 100
    summary("interrupts_2000_sync_calls_later_calls_ok", 1.0 if ok else 0.0, interrupted)


if __name__ == "__main__":
    main()
