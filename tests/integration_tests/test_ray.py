"""Ray Data on a local cluster against the in-process emulator (its port is reachable from the
worker processes), with and without a shared quota in Redis."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import ray

from cn_embeddings.ray import Embedder, embed_dataset
from cn_embeddings.testing import Faults

RAY_STARTS = 3


def _end_half_started_node() -> None:
    """Kill the Ray processes a failed ``ray.init`` left behind: Ray waits a fixed 30 s for its
    raylet to register and, when that runs out (a cold machine importing its agents), gives up
    without stopping what it started. Only this process's own children are touched."""
    import psutil

    package = str(Path(ray.__file__).parent)
    killed = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any(package in part for part in child.cmdline()):
                child.kill()
                killed.append(child)
        except psutil.Error:
            pass
    psutil.wait_procs(killed, timeout=10)


def _raylet_log_tail() -> str:
    logs = Path(tempfile.gettempdir()) / "ray" / "session_latest" / "logs"
    parts = []
    for name in ("raylet.out", "raylet.err", "gcs_server.err"):
        path = logs / name
        if path.is_file():
            parts.append(f"--- {path}\n" + path.read_text(errors="replace")[-2000:])
    return "\n".join(parts)


@pytest.fixture(scope="module")
def cluster():
    """A local two-CPU cluster. A start that times out is retried (up to RAY_STARTS in all); the
    last failure fails the tests with the tail of the raylet's logs, never a skip."""
    for start in range(1, RAY_STARTS + 1):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            break
        except Exception as exc:  # Ray raises a bare Exception for a node that timed out
            ray.shutdown()
            _end_half_started_node()
            if start == RAY_STARTS:
                pytest.fail(f"Ray did not start in {RAY_STARTS} tries: {exc}\n{_raylet_log_tail()}")
    yield
    ray.shutdown()


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
