"""Ray Data: embed a Dataset column on a cluster, under one vendor quota.

``embed_dataset(ds, provider="qianfan", model="embedding-v1", column="text",
quota_url="redis://head:6379/0", requests_per_second=10)`` adds one vector per
row. The client is built once on the driver and pickled into every worker
actor (credentials included, so that the workers can call the vendor); with
``quota_url`` all workers of all nodes share one quota in Redis. Needs the
``[ray]`` extra.

With OpenTelemetry configured in the workers too, each batch's call span is a
child of the span that was current where ``embed_dataset`` was called (its
W3C trace context travels with the Embedder), so one job span on the driver
holds the whole run's batches and attempts.
"""

from __future__ import annotations

from array import array
from typing import Any, Literal

from . import _telemetry as telemetry
from ._client import EmbeddingClient
from ._exceptions import CNEmbeddingsError
from .clients import CLIENTS

__all__ = ["Embedder", "embed_dataset"]


class Embedder:
    """The callable class ``map_batches`` runs: one client per actor, one ``embed`` per batch, so
    the client keeps ``max_concurrency`` requests in flight within a batch.

    Batches are Arrow tables. The vector goes into ``output_column`` (float32, fixed size); when
    the client asks for them, Ark's sparse vectors into ``<output_column>_sparse`` (a map from token
    id to weight) and its token-level vectors into ``<output_column>_multi`` (a list of float32
    rows). ``on_error="raise"`` fails the dataset with the typed error (its record on it);
    ``"keep"`` keeps every vector a failed call got, leaves the others null and says why in
    ``<output_column>_error``, so the run completes and the failed rows can be run again."""

    def __init__(
        self,
        client: EmbeddingClient,
        column: str = "text",
        output_column: str = "embedding",
        default: Literal["text", "image"] = "text",
        on_error: Literal["raise", "keep"] = "raise",
        trace_context: dict[str, str] | None = None,
    ) -> None:
        if on_error not in ("raise", "keep"):
            raise ValueError(f"on_error must be 'raise' or 'keep', got {on_error!r}")
        self.client, self.column, self.output_column, self.default = client, column, output_column, default
        self.on_error = on_error
        self.trace_context = trace_context or {}  # W3C headers of the driver's span (telemetry.carrier)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from .bulk.columns import multi_vector_array

        inputs = batch.column(self.column).to_pylist()
        errors: list[str | None] = [None] * len(inputs)
        try:
            with telemetry.attached(self.trace_context):
                result = self.client.embed(inputs, default=self.default)
            vectors: list[Any] = list(result.vectors)
            sparse: list[Any] = list(result.sparse or [])
            multi: list[Any] = list(result.multi_vectors or [])
        except CNEmbeddingsError as error:
            if self.on_error == "raise":
                raise
            got = error.partial_vectors
            vectors = [got.get(i) for i in range(len(inputs))]
            sparse, multi = [], []  # a failed call hands back dense vectors only
            errors = [None if i in got else _one_line(error) for i in range(len(inputs))]
        dimension = next((len(v) for v in vectors if v is not None), 0)
        values = array("f")  # float32 as it arrives, not a Python float each
        for vector in vectors:
            values.extend(vector if vector is not None else array("f", bytes(4 * dimension)))
        flat = pa.Array.from_buffers(pa.float32(), len(values), [None, pa.py_buffer(values)])
        mask = pa.array([v is None for v in vectors])
        dense = pa.FixedSizeListArray.from_arrays(flat, dimension, mask=mask)
        batch = batch.append_column(self.output_column, dense)
        if self.client.protocol.sparse:
            items = [list(s.items()) if s is not None else None for s in (sparse or [None] * len(inputs))]
            batch = batch.append_column(
                f"{self.output_column}_sparse", pa.array(items, pa.map_(pa.int32(), pa.float32()))
            )
        if self.client.protocol.vector_settings().get("multi_embedding"):
            batch = batch.append_column(
                f"{self.output_column}_multi", multi_vector_array(multi or [None] * len(inputs))
            )
        if self.on_error == "keep":
            batch = batch.append_column(f"{self.output_column}_error", pa.array(errors, pa.string()))
        return batch


def _one_line(error: Exception) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def embed_dataset(
    ds: Any,
    provider: str | None = None,
    model: str | None = None,
    *,
    column: str = "text",
    output_column: str = "embedding",
    concurrency: int = 2,
    batch_size: int | None = None,
    default: Literal["text", "image"] = "text",
    on_error: Literal["raise", "keep"] = "raise",
    client: EmbeddingClient | None = None,
    **client_options: Any,
) -> Any:
    """A Dataset like ``ds`` with ``output_column`` holding each row's vector (float32), and the
    sparse and multi-vector columns when the client asks for them (see :class:`Embedder`).

    Give ``provider`` and ``model`` plus any client option (``quota_url``, ``requests_per_second``,
    ``sparse``, credentials...), or a ready ``client``. ``concurrency`` is the number of worker
    actors; ``batch_size`` the rows per call (default: the vendor batch times ``max_concurrency``);
    ``on_error``: ``"raise"`` (the typed error, with its record) or ``"keep"`` (see
    :class:`Embedder`)."""
    if client is None:
        if provider not in CLIENTS:
            raise ValueError(f"provider must be one of {sorted(CLIENTS)}, got {provider!r}")
        client = CLIENTS[provider](model, **client_options)
    elif provider or model or client_options:
        raise ValueError("give either client=... or provider, model and client options, not both")
    from ray.data import ActorPoolStrategy

    kwargs = {"client": client, "column": column, "output_column": output_column, "default": default}
    kwargs["trace_context"] = telemetry.carrier()  # the caller's span is the parent of the workers' calls
    embedded = ds.map_batches(
        Embedder,
        fn_constructor_kwargs={**kwargs, "on_error": on_error},
        compute=ActorPoolStrategy(size=concurrency),
        batch_size=batch_size or client.batch_size * client.max_concurrency,
        batch_format="pyarrow",
    )
    # the driver gets the typed error (AuthenticationError, with its record), not Ray's UserCodeException
    embedded.context.raise_original_map_exception = True
    return embedded
