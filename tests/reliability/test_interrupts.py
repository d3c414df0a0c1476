"""Ctrl-C at random moments of sync calls: no lock held, no place in flight leaked, no untyped error."""

from __future__ import annotations

import _thread
import random
import threading
import time

from cn_embeddings import CNEmbeddingsError
from cn_embeddings.testing import Faults


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
                client.embed_texts([f"call {i} text {j}" for j in range(rng.randint(1, 3))], )
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
    assert client.controller.in_flight == 0 and not client.controller._line  # nothing leaked
    assert client.controller._lock.acquire(timeout=1)
    client.controller._lock.release()
    for k in range(20):  # every later call succeeds
        assert len(client.embed_texts([f"after {k}", f"after {k}b"])) == 2
