"""What the three LangChain classes share: fields, the core client, the Embeddings methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.load.serializable import Serializable
from pydantic import ConfigDict, Field, model_validator

from cn_embeddings import EmbeddingClient
from cn_embeddings._progress import progress_bar
from cn_embeddings.clients import clients_from_settings
from cn_embeddings.settings import TransportSettings

MultimodalInput = str | Mapping[str, Any]


class CNEmbeddingsBase(Serializable, Embeddings, TransportSettings):
    """Configuration is pydantic fields only; the core client is built once, privately."""

    model: str
    batch_size: int | None = None
    """Inputs per request; None uses the vendor limit (a lower value is allowed)."""
    show_progress_bar: bool = False
    default_headers: dict[str, str] | None = None
    http_client: Any = Field(default=None, exclude=True)
    """An httpx.Client to send with (it is still signed per request)."""
    http_async_client: Any = Field(default=None, exclude=True)


    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True, extra="forbid",
                              protected_namespaces=())

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_cn_embeddings"]

    @model_validator(mode="after")
    def _build_client(self) -> CNEmbeddingsBase:
        self._client, self._query = clients_from_settings(
            self.vendor, self.model, self, batch_size=self.batch_size, http_client=self.http_client,
            http_async_client=self.http_async_client)
        return self

    def _embed(self, client: EmbeddingClient, inputs: Sequence[Any], default: str = "text") -> list[list[float]]:
        with progress_bar(len(inputs), self.show_progress_bar) as progress:
            return client.embed(inputs, default=default, progress=progress).vectors  # type: ignore[arg-type]

    async def _aembed(self, client: EmbeddingClient, inputs: Sequence[Any], default: str = "text") -> list[list[float]]:
        with progress_bar(len(inputs), self.show_progress_bar) as progress:
            return (await client.aembed(inputs, default=default, progress=progress)).vectors  # type: ignore[arg-type]

    # -- Embeddings ------------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(self._client, texts)

    def embed_query(self, text: str) -> list[float]:
        return self._embed(self._query, [text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self._aembed(self._client, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return (await self._aembed(self._query, [text]))[0]

    # -- images and fused inputs -------------------------------------------------------------

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """One vector per image (paths, http(s) URLs or data URIs); what ``Chroma.add_images`` calls."""
        self._client.require_multimodal("embed_image")
        return self._embed(self._client, uris, default="image")

    async def aembed_image(self, uris: list[str]) -> list[list[float]]:
        self._client.require_multimodal("aembed_image")
        return await self._aembed(self._client, uris, default="image")

    def embed_multimodal(self, inputs: Sequence[MultimodalInput]) -> list[list[float]]:
        """One vector per input: a str, or a mapping with ``text``, ``image`` and/or ``video``."""
        return self._embed(self._client, inputs)

    async def aembed_multimodal(self, inputs: Sequence[MultimodalInput]) -> list[list[float]]:
        return await self._aembed(self._client, inputs)
