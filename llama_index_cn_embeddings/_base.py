"""What the three LlamaIndex classes share: fields, the core client, the embedding hooks.

Only the private hooks are implemented, so LlamaIndex's public methods keep
firing their dispatcher events and callback-manager EMBEDDING events (with the
chunks that TokenCountingHandler counts). The async hooks go through the core
client, whose per-client gate bounds the requests in flight even when
LlamaIndex gathers every batch at once.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import ImageType
from pydantic import Field

from cn_embeddings.clients import clients_from_settings
from cn_embeddings.settings import TransportSettings

Embedding = list[float]


class CNEmbeddingBase(MultiModalEmbedding, TransportSettings):
    http_client: Any = Field(default=None, exclude=True)
    async_http_client: Any = Field(default=None, exclude=True)


    def __init__(self, **data: Any) -> None:
        batch_given = "embed_batch_size" in data
        super().__init__(**data)
        self._client, self._query = clients_from_settings(
            self.vendor, self.model_name, self, http_client=self.http_client,
            http_async_client=self.async_http_client)
        # embed_batch_size is how many inputs LlamaIndex hands over per call; the core still
        # splits each call into requests of the vendor's size and sends them concurrently.
        if not batch_given:
            # The vendor's limit per request; where that is one input (Ark multimodal, gme,
            # tao-8k), one LlamaIndex batch per max_concurrency requests instead, so that a
            # batch still keeps the connections busy.
            limit = self._client.batch_size
            self.embed_batch_size = limit if limit > 1 else self.max_concurrency

    # -- whole-call validation: LlamaIndex splits calls into batches, we check them all first --

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **kwargs: Any) -> list[Embedding]:
        self._client.validate(texts)
        return super().get_text_embedding_batch(texts, show_progress, **kwargs)

    async def aget_text_embedding_batch(self, texts: list[str], show_progress: bool = False,
                                        **kwargs: Any) -> list[Embedding]:
        self._client.validate(texts)
        return await super().aget_text_embedding_batch(texts, show_progress, **kwargs)

    def get_image_embedding_batch(self, img_file_paths: list[ImageType], show_progress: bool = False,
                                  **kwargs: Any) -> list[Embedding]:
        self._client.require_multimodal("image embedding")
        self._client.validate(img_file_paths, default="image")
        return super().get_image_embedding_batch(img_file_paths, show_progress)

    async def aget_image_embedding_batch(self, img_file_paths: list[ImageType], show_progress: bool = False,
                                         **kwargs: Any) -> list[Embedding]:
        self._client.require_multimodal("image embedding")
        self._client.validate(img_file_paths, default="image")
        return await super().aget_image_embedding_batch(img_file_paths, show_progress)

    # -- text hooks ------------------------------------------------------------------------

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._query.embed_texts([query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._query.aembed_texts([query]))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._client.embed_texts([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._client.aembed_texts([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._client.embed_texts(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._client.aembed_texts(texts)

    # -- image hooks (str paths and BytesIO, what ImageNode.resolve_image() returns) ---------

    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._get_image_embeddings([img_file_path])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aget_image_embeddings([img_file_path]))[0]

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        self._client.require_multimodal("image embedding")
        return self._client.embed_images(img_file_paths)

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        self._client.require_multimodal("image embedding")
        return await self._client.aembed_images(img_file_paths)
