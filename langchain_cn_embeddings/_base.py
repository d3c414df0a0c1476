"""What the three LangChain classes share: the core client, the Embeddings methods.

The configuration fields are generated from the option declarations
(``cn_embeddings._settings``, typed and checked against the declarations); this class adds LangChain's
own: serialisation (``dumps`` replaces each credential with its environment
variable id), the progress bar and the injected httpx clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.load.serializable import Serializable
from pydantic import ConfigDict, Field, model_validator

from cn_embeddings import EmbeddingClient
from cn_embeddings._adapters import AdapterMixin, EmbeddingClients, registry

MultimodalInput = str | Mapping[str, Any]


class LangChainAdapter(AdapterMixin, Serializable):
    """What every LangChain class of this package shares (embeddings and rerankers): the injected
    httpx clients, serialisation with credentials as their environment variable ids, and a check of
    the configuration on construction."""

    http_client: Any = Field(default=None, exclude=True)
    """An httpx.Client to send with (it is still signed per request)."""
    http_async_client: Any = Field(default=None, exclude=True)

    model_config = ConfigDict(
        populate_by_name=True, arbitrary_types_allowed=True, extra="forbid", protected_namespaces=()
    )

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """``extra_body`` under langchain-openai's name: reads back what was given."""
        return dict(self.extra_body)  # type: ignore[attr-defined]

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_cn_embeddings"]

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {cred.name: cred.env for cred in registry(self.kind)[1](self.vendor)}

    @model_validator(mode="after")
    def _check_configuration(self) -> LangChainAdapter:
        self._clients()  # a bad option or a missing credential fails here, not on the first call
        return self


class CNEmbeddingsBase(EmbeddingClients, LangChainAdapter, Embeddings):
    """Configuration is pydantic fields only; the core client is built from them, privately."""

    show_progress_bar: bool = False

    def _embed(self, client: EmbeddingClient, inputs: Sequence[Any], default: str = "text") -> list[list[float]]:
        return client.embed(inputs, default=default, show_progress=self.show_progress_bar).vectors  # type: ignore[arg-type]

    async def _aembed(self, client: EmbeddingClient, inputs: Sequence[Any], default: str = "text") -> list[list[float]]:
        return (await client.aembed(inputs, default=default, show_progress=self.show_progress_bar)).vectors  # type: ignore[arg-type]

    # -- Embeddings ------------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(self.client, texts)

    def embed_query(self, text: str) -> list[float]:
        return self._embed(self.query_client, [text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self._aembed(self.client, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return (await self._aembed(self.query_client, [text]))[0]

    # -- images and fused inputs -------------------------------------------------------------

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """One vector per image (paths, http(s) URLs or data URIs); what ``Chroma.add_images`` calls."""
        client = self.client
        client.require_multimodal("embed_image")
        return self._embed(client, uris, default="image")

    async def aembed_image(self, uris: list[str]) -> list[list[float]]:
        client = self.client
        client.require_multimodal("aembed_image")
        return await self._aembed(client, uris, default="image")

    def embed_multimodal(self, inputs: Sequence[MultimodalInput]) -> list[list[float]]:
        """One vector per input: a str, or a mapping with ``text``, ``image`` and/or ``video``."""
        return self._embed(self.client, inputs)

    async def aembed_multimodal(self, inputs: Sequence[MultimodalInput]) -> list[list[float]]:
        return await self._aembed(self.client, inputs)
