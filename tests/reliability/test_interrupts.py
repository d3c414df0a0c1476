"""Ctrl-C at random moments of sync calls: no lock held, no place in flight leaked, no untyped error."""

from __future__ import annotations

import _thread
import random
import threading
import time

import pytest

from cn_embeddings import CNEmbeddingsError
from cn_embeddings.testing import Faults


@pytest.mark.slow  # runs against the wall clock
def test_ctrl_c_at_random_moments_leaves_the_client_usable(emu):
    emu.faults = Faults(latency_ms=5)
    client = emu.client("qianfan", batch_size=1, requests_per_second=200)
    rng = random.Random(7)
    interrupted = typed = 0
    for i in range(300):
        timer = threading.Timer(rng.uniform(0, 0.03), _thread.interrupt_main)
        try:
            try:
                timer.start()
                client.embed_texts(
                    [f"call {i} text {j}" for j in range(rng.randint(1, 3))],
                )
            except CNEmbeddingsError:
                typed += 1  # a call stopped by an interrupt that landed in a worker's wake-up: typed
            finally:
                timer.cancel()
                timer.join()
                time.sleep(0.001)  # a pending interrupt is delivered here, inside the guard
        except KeyboardInterrupt:
            interrupted += 1
    assert interrupted >= 30, interrupted
    deadline = time.monotonic() + 10
    while client.controller.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    stats: list = []  # read in a thread: a lock left held would hang it, not this test
    reader = threading.Thread(target=lambda: stats.append(client.controller.stats()), daemon=True)
    reader.start()
    reader.join(1)
    assert stats and stats[0].in_flight == 0 and stats[0].waiting == 0  # nothing leaked, the lock is free
    for k in range(20):  # every later call succeeds
        assert len(client.embed_texts([f"after {k}", f"after {k}b"])) == 2


def test_a_stopped_event_loop_does_not_starve_calls_in_other_threads():
    """A loop stopped mid-call keeps its tasks' places in flight and in line for ever; its places
    are leases (reclaimed after twice the timeout) and a caller in line that stops looking is
    passed over, so a sync call elsewhere still goes through (it used to wait for ever)."""
    import asyncio

    from cn_embeddings.testing import Emulator

    with Emulator(faults=Faults(latency_ms=1500)) as slow:
        client = slow.client("qianfan", batch_size=1, max_concurrency=2, requests_per_second=0, timeout=2)
        loop = asyncio.new_event_loop()

        def frozen() -> None:
            loop.create_task(client.aembed_texts([f"frozen {i}" for i in range(10)]))
            loop.call_later(0.3, loop.stop)  # two requests on the wire, two more tasks in line
            loop.run_forever()

        thread = threading.Thread(target=frozen)
        thread.start()
        thread.join()
        assert client.controller.in_flight == 2 and client.controller.stats().waiting == 2  # 4 workers
        done = []
        worker = threading.Thread(target=lambda: done.append(client.embed_texts(["elsewhere"])), daemon=True)
        worker.start()
        worker.join(30)
        assert done and len(done[0]) == 1
        loop.close()
