"""Under injected faults: every input gets exactly its own vector, in order, or a precise error."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from cn_embeddings import AuthenticationError, RateLimitError, ServerError
from cn_embeddings._flow import Cancel
from cn_embeddings.testing import Emulator, Faults
from cn_embeddings.testing import _vectors as reference
from cn_embeddings.testing._handlers import QIANFAN_TEXT, TENCENT_DIMS

N = 1000
TEXTS = [f"第{i}条 record number {i} topic {i % 37}" for i in range(N)]
CASES = {
    "tencent": ("bge-m3", TENCENT_DIMS["bge-m3"]),
    "qianfan": ("embedding-v1", QIANFAN_TEXT["embedding-v1"][2]),
    "ark": ("doubao-embedding-vision-250615", 2048),
}


def expected(model: str, dim: int) -> list[list[float]]:
    """The emulator's vectors, computed without any client code."""
    return [reference.embed(model, dim, text=t) for t in TEXTS]


@pytest.fixture(scope="module")
def chaos():
    faults = Faults(
        server_error_rate=0.10, rate_limit_rate=0.10, drop_rate=0.02, stall_rate=0.01, stall_seconds=3.0, seed=7
    )
    with Emulator(faults=faults) as emu:
        yield emu


@pytest.mark.parametrize("vendor", list(CASES))
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_all_faults_at_once_lose_nothing(chaos, vendor, mode):
    model, dim = CASES[vendor]
    chaos.reset()
    for offset, kind in enumerate(("stall", "drop", "server_error", "rate_limit")):  # each kind at least once
        chaos.faults.script(kind, after=3 + 2 * offset)
    max_retries = 8  # 23% faulty answers: P(a batch fails 9 times) ~ 2e-6
    client = chaos.client(
        vendor,
        model,
        requests_per_second=0,
        max_retries=max_retries,
        timeout=1.5,
        max_concurrency=8,
        zero_waits=True,
        batch_size=16 if vendor == "tencent" else None,
    )
    result = client.embed(TEXTS) if mode == "sync" else asyncio.run(client.aembed(TEXTS))
    assert result.vectors == expected(model, dim)
    # no batch was sent again after it had been answered: the timeout (a deadline for the whole
    # attempt) is far above an answer's time even on a loaded machine, and far below a stall's
    assert chaos.answered_twice() == []
    batches = -(-N // client.batch_size)
    assert result.usage.requests == batches + result.usage.retries
    # A request can die on a keep-alive connection the server had just closed (after a drop or
    # a stall) without reaching it, so the emulator may have seen a few fewer than were sent.
    assert result.usage.requests - 5 <= len(chaos.seen) <= result.usage.requests
    assert 0 < result.usage.retries <= batches * max_retries
    kinds = {s.fault for s in chaos.seen}
    assert {"server_error", "rate_limit", "drop", "stall"} <= kinds


@pytest.mark.parametrize("vendor", list(CASES))
@pytest.mark.parametrize("fault,error", [("auth", AuthenticationError), ("quota", RateLimitError)])
def test_non_retryable_error_mid_run_fails_fast_and_reports_progress(emu, vendor, fault, error):
    model, _ = CASES[vendor]
    emu.faults.latency_ms = 20  # so "in flight" means a few requests, not a race with a 1 ms server
    emu.faults.script(fault, after=20)
    client = emu.client(
        vendor,
        model,
        requests_per_second=0,
        max_concurrency=4,
        zero_waits=True,
        batch_size=4 if vendor != "ark" else None,
    )
    with pytest.raises(error) as info:
        client.embed(TEXTS)
    err = info.value
    assert not err.retryable and err.vendor == vendor and err.code
    assert len(emu.seen) <= 21 + 2 * 4  # stopped dispatching: only requests already under way went on
    assert sorted(err.embedded + err.not_embedded) == list(range(N))
    assert set(err.failed) <= set(err.not_embedded) and len(err.embedded) >= 20 * (4 if vendor != "ark" else 1) - 16
    answered = sum(s.inputs for s in emu.seen if s.ok)
    assert len(err.embedded) == answered


@pytest.mark.parametrize("vendor", list(CASES))
def test_retries_exhausted_names_the_batch_and_the_last_vendor_error(emu, vendor):
    model, _ = CASES[vendor]
    # every request from the third on fails: with one place on the wire, the third and fourth
    # batches take turns (a batch waiting out a retry gives its place away), and whichever of them
    # first spends its three attempts fails the call (which one depends on the threads' timing)
    emu.faults.script("server_error", after=2, count=6)
    client = emu.client(
        vendor,
        model,
        requests_per_second=0,
        max_concurrency=1,
        max_retries=2,
        zero_waits=True,
        batch_size=10 if vendor != "ark" else None,
    )
    with pytest.raises(ServerError) as info:
        client.embed(TEXTS[:50])
    err = info.value
    per = 10 if vendor != "ark" else 1
    first = err.failed[0]
    assert first in (2 * per, 3 * per) and err.failed == list(range(first, first + per)) and err.attempts == 3
    assert err.embedded == list(range(2 * per)), "the two batches before the faults were answered"
    assert err.status_code in (500, 502) and err.code
    if vendor != "tencent":  # Tencent's gateway 502 has no request id; the API-level ones do
        assert err.request_id
    assert f"{first}" in str(err) and "after 3 attempts" in str(err)


def test_a_ctrl_c_inside_the_pools_submit_leaves_no_worker_running(emu, monkeypatch):
    """A Ctrl-C can land after the pool started a worker thread and before it recorded it (a busy
    machine makes that likely while a call is still growing its pool); the pool's own shutdown does
    not wait for such a thread, the call still must."""
    emu.faults.latency_ms = 1000
    client = emu.client("qianfan", batch_size=1, requests_per_second=0)
    started = threading.Thread.start
    count = []

    def start(self):
        started(self)
        if self.name.startswith("cn-embeddings_"):
            count.append(self)
            if len(count) == 1:
                time.sleep(0.2)  # the worker has taken its batch and waits for the answer
                raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(KeyboardInterrupt):
        client.embed_texts(TEXTS[:40])
    assert count and all(not t.is_alive() for t in count)
    assert [t for t in threading.enumerate() if t.name.startswith("cn-embeddings_")] == []


@pytest.mark.slow  # runs against the wall clock
def test_retry_after_is_honoured_against_the_emulator(emu):
    emu.faults.retry_after = 0.3
    emu.faults.script("rate_limit", after=0)
    client = emu.client("ark", requests_per_second=0)
    started = time.perf_counter()
    client.embed_texts(["x"])
    assert time.perf_counter() - started >= 0.3
    assert [s.fault for s in emu.seen] == ["rate_limit", None]


@pytest.mark.slow  # runs against the wall clock
def test_limiter_adapts_so_a_long_run_stops_hitting_the_quota(emu):
    emu.faults = Faults(qps=40)
    # Qianfan documents no quota: no client-side limit until the vendor throttles (0 would turn it off).
    client = emu.client(
        "qianfan", batch_size=1, requests_per_second=None, max_concurrency=8, max_retries=20, zero_waits=True
    )
    client.embed_texts((TEXTS * 2)[:600])  # long enough to settle whatever the machine
    throttled = [bool(s.fault and s.fault.startswith("quota_")) for s in emu.seen]
    first, last = throttled[: len(throttled) // 3], throttled[-len(throttled) // 3 :]
    # It settles just under the quota; every 10 clean windows it probes above it, and the
    # emulator's burst allowance lets a probe climb before refusals end it, so the last third
    # still holds a few refusals (6-11% in runs here, against about 25% in the first third).
    seen = f"refused: {sum(first)} of {len(first)} in the first third, {sum(last)} of {len(last)} in the last"
    assert sum(first) > 0 and sum(last) / len(last) < 0.2 and sum(last) < sum(first), seen


@pytest.mark.slow  # runs against the wall clock
def test_async_cancellation_cancels_in_flight_requests(emu):
    emu.faults.latency_ms = 300
    client = emu.client("qianfan", batch_size=1, requests_per_second=0, max_concurrency=8)

    async def main():
        task = asyncio.ensure_future(client.aembed_texts(TEXTS[:40]))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        http = await client._connections.async_client()
        pool = http._transport._pool
        busy = [c for c in pool.connections if not c.is_idle()]
        await client.aclose()
        return leftover, busy

    leftover, busy = asyncio.run(main())
    assert leftover == [] and busy == []
    time.sleep(0.5)
    assert len(emu.seen) <= 8  # nothing new was dispatched after the cancel


def test_keyboard_interrupt_in_sync_path_leaves_no_running_thread(emu):
    emu.faults.latency_ms = 100
    client = emu.client("qianfan", batch_size=1, requests_per_second=0)
    threading.Timer(0.25, os.kill, (os.getpid(), signal.SIGINT)).start()  # a real Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        client.embed_texts(TEXTS[:200])
    assert [t for t in threading.enumerate() if t.name.startswith("cn-embeddings_")] == []  # the workers
    assert len(emu.seen) < 200


@pytest.mark.slow  # runs against the wall clock
def test_ctrl_c_ends_requests_on_the_wire_within_a_second_in_the_sync_path():
    """Requests waiting on a server that answers after 5 s (within the 60 s timeout) end within
    a read slice of Ctrl-C; they used to run to their answer, or to the timeout."""
    with Emulator(faults=Faults(latency_ms=5_000)) as slow:  # its own: late answers stay out of other tests
        client = slow.client("qianfan", batch_size=1, requests_per_second=0, max_concurrency=4)
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            client.embed_texts(TEXTS[:8])
        assert time.monotonic() - started < 2.0
        assert [t for t in threading.enumerate() if t.name.startswith("cn-embeddings_")] == []
        assert client.usage.requests == 0  # nothing answered, nothing counted as billed


def test_a_drained_call_keeps_what_was_answered_and_says_what_was_not(emu):
    """``drain`` set mid-call, while some batches wait out a retry and others are on the wire:
    the ones on the wire are answered and kept (a drained batch must not cut them off), the
    waiting ones give up, nothing new is sent, and the typed error's record splits the inputs
    exactly."""
    from cn_embeddings import CNEmbeddingsError

    emu.faults = Faults(latency_ms=400, server_error_rate=0.5, seed=3)
    client = emu.client("qianfan", batch_size=1, max_concurrency=2, max_retries=8, requests_per_second=0)
    drain = Cancel()
    threading.Timer(1.0, drain.set).start()
    with pytest.raises(CNEmbeddingsError) as caught:
        client.embed(TEXTS[:40], cancel=drain)
    error = caught.value
    time.sleep(0.2)  # a request the client cut off on the wire has reached the emulator by now...
    assert emu.wait_idle(30)  # ...and is answered, and logged, once it is idle
    assert sorted(error.embedded + error.not_embedded) == list(range(40)) and error.not_embedded
    assert len(error.embedded) == sum(1 for s in emu.seen if s.ok) > 0  # every answer kept
    emu.faults = Faults()
    expected = client.embed_texts([TEXTS[i] for i in error.embedded])
    assert [error.partial_vectors[i] for i in error.embedded] == expected


@pytest.mark.slow  # runs against the wall clock
def test_ctrl_c_ends_retry_waits_at_once_in_the_sync_path(emu):
    emu.faults = Faults(server_error_rate=1.0)  # every answer a 5xx: the batches sit in backoff
    client = emu.client("qianfan", batch_size=1, max_retries=6, requests_per_second=0)
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.embed_texts(TEXTS[:16])  # without the stop, 6 retries wait 0.5+1+2+4+8+8 s each
    assert time.monotonic() - started < 3
    assert [t for t in threading.enumerate() if t.name.startswith("cn-embeddings_")] == []
