"""Daft and Spark, locally, against the emulator: exact vectors per row, the shared quota, typed
failures, and credentials kept out of a plan."""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest

from cn_embeddings.testing import Faults
from tests.conftest import png_bytes

TEXTS = [f"第 {i} 段: text number {i}" for i in range(120)]


@pytest.fixture
def environment(emu, monkeypatch):
    """Credentials and base URLs in the environment only, as on a worker."""
    for key, value in emu.environment().items():
        monkeypatch.setenv(key, value)
    return emu


def expected(emu, vendor: str, model: str, inputs, default: str = "text") -> list[list[float]]:
    return emu.client(vendor, model, requests_per_second=0).embed(inputs, default=default).vectors


# -- Daft -----------------------------------------------------------------------------------------------


def test_daft_embed_text_gives_each_row_its_own_vector_with_the_dimensions_in_the_schema(environment):
    import daft
    from daft.functions import embed_text

    from cn_embeddings.daft import CNEmbeddingsProvider

    df = daft.from_pydict({"id": list(range(len(TEXTS))), "text": TEXTS})
    out = df.with_column(
        "vector", embed_text(df["text"], provider=CNEmbeddingsProvider("qianfan"), model="embedding-v1")
    ).collect()
    assert str(out.schema()["vector"].dtype) == "Embedding[Float32; 384]"
    rows = out.to_pydict()
    want = dict(zip(TEXTS, expected(environment, "qianfan", "embedding-v1", TEXTS), strict=True))
    for text, vector in zip(rows["text"], rows["vector"], strict=True):
        assert np.allclose(vector, want[text], rtol=1e-6)
    environment.reset()
    CNEmbeddingsProvider("ark").get_text_embedder("doubao-embedding-vision-250615", dimensions=1024).get_dimensions()
    assert not environment.seen  # dimensions asked for are the schema's, with no probe request


def test_daft_embed_image_takes_image_columns_bytes_and_urls(environment):
    import daft
    from daft.functions import decode_image, embed_image

    from cn_embeddings.daft import CNEmbeddingsProvider

    pictures = [png_bytes(color=(i * 40, 10, 200)) for i in range(4)]
    df = daft.from_pydict({"raw": pictures})
    provider = CNEmbeddingsProvider("ark")
    out = df.with_column(
        "from_bytes", embed_image(df["raw"], provider=provider, model="doubao-embedding-vision-250615")
    )
    out = out.with_column("decoded", decode_image(df["raw"]))
    out = out.with_column(
        "from_image", embed_image(out["decoded"], provider=provider, model="doubao-embedding-vision-250615")
    ).collect()
    rows = out.to_pydict()
    want = expected(environment, "ark", "doubao-embedding-vision-250615", pictures, default="image")
    for got, vector in zip(rows["from_bytes"], want, strict=True):
        assert np.allclose(got, vector, rtol=1e-6)
    assert all(len(v) == len(want[0]) for v in rows["from_image"])  # re-encoded as PNG: its own vector


def test_daft_on_error_gives_nulls_where_rows_got_no_vector_or_raises_the_typed_error(environment):
    import daft
    from daft.functions import embed_text

    from cn_embeddings.daft import CNEmbeddingsProvider

    texts = ["短文本", "x" * 5000, "another short text"]  # embedding-v1 takes 1,000 characters
    df = daft.from_pydict({"text": texts})
    provider = CNEmbeddingsProvider("qianfan")
    kept = df.with_column("v", embed_text(df["text"], provider=provider, model="embedding-v1", on_error="ignore"))
    rows = kept.collect().to_pydict()["v"]
    want = expected(environment, "qianfan", "embedding-v1", [texts[0], texts[2]])
    assert rows[1] is None and np.allclose(rows[0], want[0]) and np.allclose(rows[2], want[1])
    failing = df.with_column("v", embed_text(df["text"], provider=provider, model="embedding-v1"))
    environment.faults.script("auth", count=100)  # after the plan's dimension probe
    with pytest.raises(Exception) as caught:  # noqa: B017 - Daft wraps the UDF's error in its own
        failing.where(df["text"] != texts[1]).collect()
    assert "AuthenticationError" in repr(caught.value) or "AuthenticationError" in str(caught.value)
    assert os.environ["QIANFAN_API_KEY"] not in str(caught.value)


def test_daft_plans_hold_no_credentials_taken_from_the_environment(environment):
    from cn_embeddings.daft import CNEmbeddingsProvider

    key = os.environ["QIANFAN_API_KEY"].encode()
    from_env = pickle.dumps(CNEmbeddingsProvider("qianfan").get_text_embedder("embedding-v1"))
    assert key not in from_env
    given = pickle.dumps(CNEmbeddingsProvider("qianfan", api_key="sk-given-12345678").get_text_embedder("embedding-v1"))
    assert b"sk-given-12345678" in given  # what the user passed travels, as a worker needs it


DAFT_WORKER = """
import sys
import daft
from daft.functions import embed_text
from cn_embeddings.daft import CNEmbeddingsProvider
provider = CNEmbeddingsProvider("qianfan", quota_url=sys.argv[1], requests_per_second=20, batch_size=2)
df = daft.from_pydict({"text": [f"worker {sys.argv[2]} text {i}" for i in range(80)]})
rows = df.with_column("v", embed_text(df["text"], provider=provider, model="embedding-v1")).collect().to_pydict()
assert len(rows["v"]) == 80 and all(v is not None for v in rows["v"])
"""


def test_daft_workers_in_two_processes_share_the_quota_through_redis(environment, redis_url):
    import subprocess
    import time
    from pathlib import Path

    environment.faults = Faults(qps=20, quota_kind="moving")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    started = time.monotonic()
    workers = [
        subprocess.Popen([sys.executable, "-c", DAFT_WORKER, redis_url, str(n)], env=env, stderr=subprocess.PIPE)
        for n in range(2)
    ]
    for worker in workers:
        assert worker.wait(timeout=180) == 0, worker.stderr.read().decode()[-2000:] if worker.stderr else ""
        if worker.stderr:
            worker.stderr.close()
    seen = [s for s in environment.seen if s.body.get("input") and "worker" in s.body["input"][0]]
    refused = sum(1 for s in seen if s.status == 429)
    assert len(seen) >= 80 and refused <= 0.01 * len(seen) + 1, (len(seen), refused)
    assert time.monotonic() - started >= 80 / 20 * 0.8  # both at one quota's pace, not each at its own


# -- Spark ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark(emulator):
    """A local Spark session (Java from Debian's package, installed by scripts/test.sh). Its
    executors take the environment the JVM started with: the emulator's credentials, this Python."""
    from pyspark.sql import SparkSession

    patch = pytest.MonkeyPatch()
    for key, value in emulator.environment().items():
        patch.setenv(key, value)
    patch.setenv("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("cn-embeddings-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.task.maxFailures", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    patch.undo()


@pytest.mark.slow
def test_spark_embed_column_keeps_the_rows_in_order_with_array_of_float(environment, spark):
    from pyspark.sql.types import ArrayType, FloatType

    from cn_embeddings.spark import embed_column

    df = spark.createDataFrame(list(enumerate(TEXTS)), ["id", "text"]).repartition(3)
    out = embed_column(df, "text", provider="qianfan", model="embedding-v1")
    assert out.schema["embedding"].dataType == ArrayType(FloatType(), True)
    ordered = df.collect()
    rows = out.collect()
    assert [r["id"] for r in rows] == [r["id"] for r in ordered]  # each partition's rows in their order
    want = dict(zip(TEXTS, expected(environment, "qianfan", "embedding-v1", TEXTS), strict=True))
    for row in rows:
        assert np.allclose(row["embedding"], want[row["text"]], rtol=1e-6)


@pytest.mark.slow
def test_spark_a_failed_partition_fails_its_task_with_the_typed_error(environment, spark):
    from cn_embeddings.spark import embed_column

    environment.faults.script("auth", count=100)
    df = spark.createDataFrame([(t,) for t in TEXTS[:10]], ["text"])
    with pytest.raises(Exception) as caught:  # noqa: B017 - Spark wraps it in a PythonException
        embed_column(df, "text", provider="qianfan", model="embedding-v1").collect()
    said = str(caught.value)
    assert "AuthenticationError" in said and os.environ["QIANFAN_API_KEY"] not in said


@pytest.mark.slow
def test_spark_executors_share_the_quota_through_redis(environment, spark, redis_url):
    from cn_embeddings.spark import embed_column

    environment.faults = Faults(qps=10, quota_kind="moving")
    df = spark.createDataFrame([(t,) for t in TEXTS[:60]], ["text"]).repartition(3)
    out = embed_column(
        df, "text", provider="qianfan", model="embedding-v1", quota_url=redis_url, requests_per_second=10, batch_size=2
    )
    assert out.count() == 60 and len(out.collect()) == 60
    refused = sum(1 for s in environment.seen if s.status == 429)
    assert refused <= 0.01 * len(environment.seen) + 1, refused


def test_spark_tasks_carry_no_credentials_taken_from_the_environment(environment):
    import cloudpickle

    from cn_embeddings.spark import _Partition

    key = os.environ["QIANFAN_API_KEY"].encode()
    task = _Partition("qianfan", "embedding-v1", {"quota_url": None}, "text", "embedding", "text")
    assert key not in cloudpickle.dumps(task)
    given = _Partition("qianfan", "embedding-v1", {"api_key": "sk-given-12345678"}, "text", "embedding", "text")
    assert b"sk-given-12345678" in cloudpickle.dumps(given)  # what the user passed travels to the executors
