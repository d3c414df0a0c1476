"""One in-flight bound per client, across threads, sync calls and calls in several event loops."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cn_embeddings import QianfanClient
from cn_embeddings._gate import Gate


class _Counting(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.in_flight = self.peak = self.requests = 0


class _Handler(BaseHTTPRequestHandler):
    """A Qianfan-shaped answer after 20 ms, counting the requests being served at once."""

    server: _Counting
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.in_flight += 1
            self.server.requests += 1
            self.server.peak = max(self.server.peak, self.server.in_flight)
        time.sleep(0.02)
        with self.server.lock:
            self.server.in_flight -= 1
        answer = json.dumps({"data": [{"index": i, "embedding": [0.5, float(i)]} for i in range(len(body["input"]))],
                             "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def counting():
    server = _Counting()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_sync_and_async_calls_in_two_loops_share_one_bound(counting):
    """Two threads making sync calls and two threads each running its own event loop, all on one
    client with max_concurrency=4: the server never sees more than 4 requests at once (it used
    to see up to 4 per mode and per loop), and every call gets its vectors."""
    client = QianfanClient(api_key="k", base_url=f"http://127.0.0.1:{counting.server_port}/v2", batch_size=1,
                           max_concurrency=4, requests_per_second=0)
    texts = [f"t{i}" for i in range(40)]
    results: list[int] = []

    def sync_call() -> None:
        results.append(len(client.embed_texts(texts)))

    def async_call() -> None:
        async def two_calls() -> list:
            return await asyncio.gather(client.aembed_texts(texts), client.aembed_texts(texts))

        results.extend(len(r) for r in asyncio.run(two_calls()))

    threads = [threading.Thread(target=f) for f in (sync_call, sync_call, async_call, async_call)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    client.close()
    assert results == [40] * 6
    assert counting.requests == 240
    assert counting.peak == 4


def test_places_survive_cancelled_and_interrupted_waiters():
    """Waiters that give up (a cancelled task, a thread interrupted while waiting) never take a
    place with them: afterwards every place can still be taken."""
    gate = Gate(2)
    gate.acquire()
    gate.acquire()

    async def cancelled_waiters() -> None:
        waiting = [asyncio.ensure_future(gate.aacquire()) for _ in range(3)]
        await asyncio.sleep(0.01)
        gate.release()  # handed to the first waiter, whose wake-up is queued
        for task in waiting[:2]:
            task.cancel()  # the first is cancelled before its wake-up runs
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError) and isinstance(results[1], asyncio.CancelledError)
        assert results[2] is None  # the place passed on to the one still waiting

    asyncio.run(cancelled_waiters())

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyboardInterrupt):
            gate.acquire()  # the gate is full: this thread queues, then Ctrl-C arrives
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert gate.in_use == 2
    gate.release()
    gate.release()
    assert gate.in_use == 0
    for _ in range(2):
        gate.acquire()
    assert gate.in_use == 2


def test_a_closed_loop_does_not_keep_a_place():
    """A task left waiting in a loop that then closed is skipped when a place is released."""
    gate = Gate(1)
    gate.acquire()
    loop = asyncio.new_event_loop()
    task = loop.create_task(gate.aacquire())
    loop.run_until_complete(asyncio.sleep(0.01))
    loop.close()  # the waiting task's loop is gone (its task is never finished)
    gate.release()
    assert gate.in_use == 0
    del task
