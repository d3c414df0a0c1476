"""Ray Data: embed a Dataset column on a cluster, under one vendor quota.

``embed_dataset(ds, provider="qianfan", model="embedding-v1", column="text",
quota_url="redis://head:6379/0", requests_per_second=10)`` adds one vector per
row. The client is built once on the driver and pickled into every worker
actor (credentials included, so that the workers can call the vendor); with
``quota_url`` all workers of all nodes share one quota in Redis. Needs the
``[ray]`` extra.
"""

from __future__ import annotations

from typing import Any, Literal

from ._client import EmbeddingClient
from .clients import CLIENTS

__all__ = ["Embedder", "embed_dataset"]


class Embedder:
    """The callable class ``map_batches`` runs: one client per actor, one ``embed`` per batch, so
    the client keeps ``max_concurrency`` requests in flight within a batch."""

    def __init__(
        self,
        client: EmbeddingClient,
        column: str = "text",
        output_column: str = "embedding",
        default: Literal["text", "image"] = "text",
    ) -> None:
        self.client, self.column, self.output_column, self.default = client, column, output_column, default

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        values = batch[self.column]
        inputs = values.tolist() if hasattr(values, "tolist") else list(values)
        vectors = self.client.embed(inputs, default=self.default).vectors
        batch[self.output_column] = np.asarray(vectors, dtype=np.float32)
        return batch


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
    client: EmbeddingClient | None = None,
    **client_options: Any,
) -> Any:
    """A Dataset like ``ds`` with ``output_column`` holding each row's vector (float32).

    Give ``provider`` and ``model`` plus any client option (``quota_url``, ``requests_per_second``,
    credentials...), or a ready ``client``. ``concurrency`` is the number of worker actors;
    ``batch_size`` the rows per call (default: the vendor batch times ``max_concurrency``)."""
    if client is None:
        if provider not in CLIENTS:
            raise ValueError(f"provider must be one of {sorted(CLIENTS)}, got {provider!r}")
        client = CLIENTS[provider](model, **client_options)
    elif provider or model or client_options:
        raise ValueError("give either client=... or provider, model and client options, not both")
    from ray.data import ActorPoolStrategy

    return ds.map_batches(
        Embedder,
        fn_constructor_kwargs={"client": client, "column": column, "output_column": output_column, "default": default},
        compute=ActorPoolStrategy(size=concurrency),
        batch_size=batch_size or client.batch_size * client.max_concurrency,
        batch_format="numpy",
    )
