"""Daft: ``embed_text`` and ``embed_image`` through this package's clients, under one vendor quota.

``daft.functions.embed_text(df["text"], provider=CNEmbeddingsProvider("qianfan"),
model="embedding-v1")`` embeds a column with the vendor's batch limits, its token counting (CJK
counted as the vendors count it, never ``len // 3``), the retries and typed errors of the
clients, and, with ``quota_url``, one quota shared by every Daft worker through Redis. Needs the
``[daft]`` extra.

What travels to the workers is a descriptor: the vendor, the model and the options given to the
provider. Credentials are read from the environment on each worker (``QIANFAN_API_KEY`` and so
on), so a plan holds none, unless the provider was given them (then they are pickled into the
plan, as a worker needs them to call the vendor).

``on_error`` is Daft's: ``"raise"`` fails the query with the typed error; ``"log"`` and
``"ignore"`` give a null for each row that got no vector (an input the model refuses, or the
requests that failed after their retries) and keep every vector the batch got; ``"log"`` also
logs why.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from daft import DataType
from daft.ai.protocols import ImageEmbedder, ImageEmbedderDescriptor, TextEmbedder, TextEmbedderDescriptor
from daft.ai.provider import Provider
from daft.ai.typing import EmbeddingDimensions, UDFOptions

from ._client import EmbeddingClient
from ._exceptions import CNEmbeddingsError, InvalidInputError
from .clients import CLIENTS, DEFAULT_MODELS

__all__ = ["CNEmbeddingsProvider"]

log = logging.getLogger("cn_embeddings.daft")

OnError = Literal["raise", "log", "ignore"]
ROWS_PER_CALL = 8  # vendor requests per Daft batch: the client keeps them in flight at once


class CNEmbeddingsProvider(Provider):
    """A Daft provider for one vendor (``tencent``, ``qianfan``, ``ark``, ``tokenhub``); keyword
    options are the clients' (``quota_url``, ``requests_per_second``, ``dimensions``...)."""

    def __init__(self, vendor: str, name: str | None = None, **options: Any) -> None:
        if vendor not in CLIENTS:
            raise ValueError(f"unknown vendor {vendor!r}; one of {', '.join(sorted(CLIENTS))}")
        self.vendor, self._name, self.options = vendor, name or f"cn-embeddings-{vendor}", options

    @property
    def name(self) -> str:
        return self._name

    def get_text_embedder(
        self, model: str | None = None, dimensions: int | None = None, **options: Any
    ) -> TextEmbedderDescriptor:
        return _TextDescriptor(self._describe(model, dimensions, options))

    def get_image_embedder(self, model: str | None = None, **options: Any) -> ImageEmbedderDescriptor:
        return _ImageDescriptor(self._describe(model, None, options))

    def _describe(self, model: str | None, dimensions: int | None, options: dict[str, Any]) -> _Described:
        daft_options: dict[str, Any] = {
            k: options.pop(k) for k in ("batch_size", "on_error", "max_retries") if k in options
        }
        client_options = {**self.options, **options}
        if dimensions is not None:
            client_options["dimensions"] = dimensions
        described = _Described(self._name, self.vendor, model or DEFAULT_MODELS[self.vendor], client_options)
        described.daft_options.update(daft_options)
        described.client()  # a bad option or a missing credential fails here, on the driver
        return described


@dataclass
class _Described:
    """What a descriptor holds and pickles: no client, no connection."""

    provider: str
    vendor: str
    model: str
    client_options: dict[str, Any]
    daft_options: dict[str, Any] = field(default_factory=dict)

    def client(self) -> EmbeddingClient:
        client: EmbeddingClient = CLIENTS[self.vendor](self.model, **self.client_options)
        return client

    def dimensions(self, default: Literal["text", "image"]) -> EmbeddingDimensions:
        """The vectors' size: the one asked for, else one vector's (a single request, on the driver)."""
        size = self.client_options.get("dimensions")
        if size is None:
            probe: Any = "dimension probe" if default == "text" else {"image": _probe_image()}
            size = len(self.client().embed([probe], default=default).vectors[0])
        return EmbeddingDimensions(size=size, dtype=DataType.float32())

    def udf_options(self) -> UDFOptions:
        """Batches of ``ROWS_PER_CALL`` vendor requests; no retries of Daft's (the client retries
        each request, and a retry of the whole batch would pay for its answered rows again)."""
        batch = self.client().batch_size * ROWS_PER_CALL
        return UDFOptions(
            batch_size=self.daft_options.get("batch_size", batch),
            max_retries=self.daft_options.get("max_retries", 0),
            on_error=self.daft_options.get("on_error", "raise"),
        )


@dataclass
class _Describing:
    """What both descriptors answer from ``described``."""

    described: _Described

    def get_provider(self) -> str:
        return self.described.provider

    def get_model(self) -> str:
        return self.described.model

    def get_options(self) -> dict[str, Any]:
        return dict(self.described.daft_options)

    def get_udf_options(self) -> UDFOptions:
        return self.described.udf_options()


@dataclass
class _TextDescriptor(_Describing, TextEmbedderDescriptor):
    def get_dimensions(self) -> EmbeddingDimensions:
        return self.described.dimensions("text")

    def instantiate(self) -> TextEmbedder:
        return _Embedder(self.described.client(), self.described.udf_options().on_error, "text")


@dataclass
class _ImageDescriptor(_Describing, ImageEmbedderDescriptor):
    def get_dimensions(self) -> EmbeddingDimensions:
        return self.described.dimensions("image")

    def instantiate(self) -> ImageEmbedder:
        client = self.described.client()
        client.require_multimodal("embed_image")
        return _Embedder(client, self.described.udf_options().on_error, "image")


class _Embedder:
    """One client per Daft worker; a batch of rows is one ``embed`` call (its requests in flight
    at once), each vector a float32 array."""

    def __init__(self, client: EmbeddingClient, on_error: OnError, default: Literal["text", "image"]) -> None:
        self.client, self.on_error, self.default = client, on_error, default

    def embed_text(self, text: list[str]) -> list[Any]:
        return self._embed(list(text))

    def embed_image(self, images: list[Any]) -> list[Any]:
        return self._embed([{"image": _image(image)} for image in images])

    def _embed(self, inputs: list[Any]) -> list[Any]:
        import numpy as np

        if self.on_error == "raise":
            vectors: list[Any] = self.client.embed(inputs, default=self.default).vectors
        else:
            vectors = self._embed_what_can_be(inputs)
        return [None if v is None else np.asarray(v, dtype=np.float32) for v in vectors]

    def _embed_what_can_be(self, inputs: list[Any]) -> list[Any]:
        """Every row's vector, None where a row got none (refused by the model's rules, or in a
        request that failed for good); ``on_error="log"`` says why."""
        vectors: list[Any] = [None] * len(inputs)
        good = []
        for i, value in enumerate(inputs):
            try:
                self.client.validate([value], default=self.default)
            except InvalidInputError as error:
                self._said(f"row {i} of the batch: {error}")
                continue
            good.append(i)
        try:
            result = self.client.embed([inputs[i] for i in good], default=self.default).vectors
            got = dict(enumerate(result))
        except CNEmbeddingsError as error:
            self._said(str(error))
            got = error.partial_vectors
        for k, i in enumerate(good):
            vectors[i] = got.get(k)
        return vectors

    def _said(self, why: str) -> None:
        if self.on_error == "log":
            log.warning("%s %s: %s", self.client.protocol.vendor, self.client.protocol.model, why)


def _image(value: Any) -> Any:
    """What a Daft image cell holds (an array from an Image column, bytes from a Binary one, a
    URL or path from a String one) as an input the clients take."""
    if isinstance(value, (bytes, str)):
        return value
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(value).save(buffer, format="PNG")
    return buffer.getvalue()


def _probe_image() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()
