"""Ray Data on a local cluster against the in-process emulator (its port is reachable from the
worker processes), with and without a shared quota in Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import IO

import pytest
import ray

from cn_embeddings.ray import Embedder, embed_dataset
from cn_embeddings.testing import Faults

RAY_STARTS = 3
HEAD = """
import sys, ray
context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
                   _node_ip_address="127.0.0.1")
print(context.address_info["gcs_address"], flush=True)
sys.stdin.read()  # until the tests close it
ray.shutdown()
"""


@dataclass
class _Head:
    process: subprocess.Popen
    printed: IO[str]  # its stderr: a file, not a pipe that nothing reads until the end
    address: str | None


def _start_head() -> _Head:
    """The cluster's head in a process of its own, in a session of its own. Ray forks its GCS and
    raylet through a ``preexec_fn``, Python code run between fork and exec; forked from the test
    process, whose threads (emulator, Redis and gRPC clients) may hold a lock at that moment, a
    child could hang before exec, and ``ray.init`` timed out after 30 s with no raylet log."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # a loopback cluster the driver joins without a token
    printed = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [sys.executable, "-c", HEAD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=printed,
        text=True,
        start_new_session=True,
        env=env,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=120)
    return _Head(process, printed, line[0].strip() if line and line[0].strip() else None)


def _stop_head(head: _Head) -> str:
    """Close the head's stdin (it shuts Ray down), then kill its whole session; returns the end of
    what it printed."""
    try:
        head.process.stdin.close()
        head.process.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.process.pid, signal.SIGKILL)
    head.process.wait()
    head.process.stdout.close()
    head.printed.seek(0)
    printed = head.printed.read()[-3000:]
    head.printed.close()
    return printed


@pytest.fixture(scope="module")
def cluster():
    """A local two-CPU cluster that the tests join as a driver. A head that does not come up is
    stopped and started again (RAY_STARTS tries in all); the last failure fails the tests with
    what the head printed, never a skip."""
    for start in range(1, RAY_STARTS + 1):
        head = _start_head()
        if head.address is not None:
            break
        printed = _stop_head(head)
        if start == RAY_STARTS:
            pytest.fail(f"the Ray head did not start in {RAY_STARTS} tries:\n{printed}")
    ray.init(address=head.address, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
    _stop_head(head)


def test_embed_dataset_adds_each_rows_own_vector(cluster, emu):
    texts = [f"第 {i} 段" for i in range(200)]
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    out = embed_dataset(ds, "qianfan", "embedding-v1", **emu.settings("qianfan"), concurrency=2).take_all()
    expected = emu.client("qianfan").embed_texts(texts)
    assert len(out) == 200
    for row in out:
        assert row["embedding"].tolist() == pytest.approx(expected[row["id"]], rel=1e-6)


def test_workers_share_one_quota_through_redis(cluster, emu, redis_url):
    emu.faults = Faults(qps=8)
    ds = ray.data.from_items([{"text": f"row {i}"} for i in range(96)])
    client = emu.client("qianfan", requests_per_second=8, quota_url=redis_url, batch_size=2, max_retries=8)
    rows = embed_dataset(ds, client=client, concurrency=2, batch_size=8).take_all()
    assert len(rows) == 96 and all(len(r["embedding"]) == 384 for r in rows)
    throttled = sum(1 for s in emu.seen if not s.ok)
    assert throttled <= 1, throttled


def test_the_callable_class_works_on_its_own(emu):
    import numpy as np

    embedder = Embedder(emu.client("ark", dimensions=1024), column="body", output_column="vec")
    batch = embedder({"body": np.array(["a", "b"])})
    assert batch["vec"].shape == (2, 1024) and batch["vec"].dtype == np.float32
