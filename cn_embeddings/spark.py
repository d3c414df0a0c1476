"""Spark: ``embed_column(df, "text", provider="qianfan", model="embedding-v1", quota_url=...)``.

Built on ``DataFrame.mapInArrow``: each partition builds one client on its executor and sends
its rows in Arrow batches, each batch one ``embed`` call (its requests in flight at once), so
with ``quota_url`` every executor of every node shares one vendor quota through Redis. Rows come
back in their order with the vector in ``output_column``, typed ``array<float>``. A batch whose
call fails for good fails its task with the typed error (its message names the vendor, code and
request id); Spark's retry of the task sends that partition again, and nothing else. Needs the
``[spark]`` extra (PySpark, and a Java runtime).

Credentials are read from the environment on each executor, unless given here: then they travel
in the task's closure, as an executor needs them to call the vendor.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from .clients import CLIENTS, DEFAULT_MODELS

__all__ = ["embed_column"]

ARROW_ROWS = 1024  # rows per Arrow batch handed to a partition's function (Spark's default is 10,000)


def embed_column(
    df: Any,
    column: str,
    *,
    provider: str,
    model: str | None = None,
    output_column: str = "embedding",
    default: Literal["text", "image"] = "text",
    **options: Any,
) -> Any:
    """``df`` with ``output_column`` added: one vector per row of ``column`` (text, or images as
    paths, URLs or bytes with ``default="image"``). ``options`` are the client's (``quota_url``,
    ``requests_per_second``, ``dimensions``...)."""
    from pyspark.sql.types import ArrayType, FloatType, StructField, StructType

    if provider not in CLIENTS:
        raise ValueError(f"unknown provider {provider!r}; one of {', '.join(sorted(CLIENTS))}")
    if output_column in df.columns:
        raise ValueError(f"{output_column!r} is already a column of the DataFrame; choose another output_column")
    name = model or DEFAULT_MODELS[provider]
    CLIENTS[provider](name, **options)  # a bad option or a missing credential fails here, on the driver
    schema = StructType([*df.schema.fields, StructField(output_column, ArrayType(FloatType()), nullable=False)])
    return df.mapInArrow(_Partition(provider, name, options, column, output_column, default), schema)


class _Partition:
    """The function each partition runs (pickled to the executors: configuration only)."""

    def __init__(
        self,
        vendor: str,
        model: str,
        options: dict[str, Any],
        column: str,
        output: str,
        default: Literal["text", "image"],
    ) -> None:
        self.vendor, self.model, self.options = vendor, model, options
        self.column, self.output, self.default = column, output, default

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        client = CLIENTS[self.vendor](self.model, **self.options)
        try:
            for batch in batches:
                for start in range(0, batch.num_rows, ARROW_ROWS):
                    part = batch.slice(start, ARROW_ROWS)
                    inputs = part.column(self.column).to_pylist()
                    vectors = client.embed(inputs, default=self.default).vectors if inputs else []
                    yield part.append_column(self.output, pa.array(vectors, pa.list_(pa.float32())))
        finally:
            client.close()
