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
        assert list(row["embedding"]) == pytest.approx(expected[row["id"]], rel=1e-6)


def test_workers_share_one_quota_through_redis(cluster, emu, redis_url):
    emu.faults = Faults(qps=8)
    ds = ray.data.from_items([{"text": f"row {i}"} for i in range(96)])
    client = emu.client("qianfan", requests_per_second=8, quota_url=redis_url, batch_size=2, max_retries=8)
    rows = embed_dataset(ds, client=client, concurrency=2, batch_size=8).take_all()
    assert len(rows) == 96 and all(len(r["embedding"]) == 384 for r in rows)
    throttled = sum(1 for s in emu.seen if not s.ok)
    assert throttled <= 1, throttled


def test_the_callable_class_works_on_its_own(emu):
    import pyarrow as pa

    embedder = Embedder(emu.client("ark", dimensions=1024), column="body", output_column="vec")
    batch = embedder(pa.table({"body": ["a", "b"]}))
    assert batch.schema.field("vec").type == pa.list_(pa.float32(), 1024) and batch.num_rows == 2


def test_sparse_and_multi_vectors_get_their_own_columns(emu):
    import pyarrow as pa

    client = emu.client("ark", sparse=True, multi_embedding=True, multi_embedding_compression=None)
    texts = ["熊猫吃竹子", "the stock market fell"]
    expected = client.embed(texts)
    batch = Embedder(client)(pa.table({"text": texts}))
    assert batch.schema.field("embedding_sparse").type == pa.map_(pa.int32(), pa.float32())
    for i, row in enumerate(batch.to_pylist()):
        assert row["embedding"] == pytest.approx(expected.vectors[i], abs=1e-6)
        assert dict(row["embedding_sparse"]) == pytest.approx(expected.sparse[i], abs=1e-6)
        assert [r for r in row["embedding_multi"]] == [
            pytest.approx(list(r), abs=1e-6) for r in expected.multi_vectors[i]
        ]


def test_keep_on_error_keeps_what_was_answered_and_says_why_for_the_rest(emu):
    import pyarrow as pa

    from cn_embeddings import AuthenticationError

    client = emu.client("qianfan", batch_size=2, max_retries=0)
    emu.faults.script("auth", after=1)  # the second request is refused
    texts = [f"row {i}" for i in range(4)]
    with pytest.raises(AuthenticationError):
        Embedder(client)(pa.table({"text": texts}))
    emu.faults.script("auth", after=1)
    rows = Embedder(client, on_error="keep")(pa.table({"text": texts})).to_pylist()
    kept = [r for r in rows if r["embedding"] is not None]
    failed = [r for r in rows if r["embedding"] is None]
    assert len(kept) == 2 and len(failed) == 2 and all(r["embedding_error"] is None for r in kept)
    assert all(r["embedding_error"].startswith("AuthenticationError: ") for r in failed)
    expected = emu.client("qianfan").embed_texts([r["text"] for r in kept])
    assert [r["embedding"] for r in kept] == [pytest.approx(v, abs=1e-6) for v in expected]


def test_a_failure_reaches_the_driver_as_the_typed_error(cluster, emu):
    from cn_embeddings import AuthenticationError

    ds = ray.data.from_items([{"text": f"row {i}"} for i in range(8)])
    settings = {**emu.settings("qianfan"), "api_key": "wrong-key"}
    with pytest.raises(AuthenticationError) as caught:
        embed_dataset(ds, "qianfan", "embedding-v1", **settings, concurrency=1).take_all()
    assert caught.value.code == "invalid_iam_token" and list(caught.value.record.not_embedded) == list(range(8))
