"""Ark sparse vectors for LlamaIndex: a ``BaseSparseEmbedding``, the Qdrant store's hybrid hooks
and the Milvus store's sparse function.

``ArkEmbedding(sparse=True)`` receives a sparse vector with every dense one (one
request per text); ``dense.as_sparse()`` returns an :class:`ArkSparseEmbedding`
that answers from those before sending anything, so a hybrid index over N nodes
sends N requests, not 2N. Built alone (``ArkSparseEmbedding(model_name=...,
api_key=...)``), it sends its own requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llama_index.core.base.embeddings.base_sparse import BaseSparseEmbedding, SparseEmbedding
from pydantic import PrivateAttr

from cn_embeddings._adapters import dense_for_sparse

if TYPE_CHECKING:
    from .embeddings import ArkEmbedding

__all__ = ["ArkSparseEmbedding"]

BatchSparse = tuple[list[list[int]], list[list[float]]]


def _split(vectors: list[SparseEmbedding]) -> BatchSparse:
    indices = [sorted(v) for v in vectors]
    return indices, [[v[i] for i in idx] for v, idx in zip(vectors, indices, strict=True)]


class ArkSparseEmbedding(BaseSparseEmbedding):
    """Sparse vectors from Volcengine Ark (text-only inputs, multimodal models).

    For ``QdrantVectorStore(enable_hybrid=True, sparse_doc_fn=sparse.sparse_doc_fn,
    sparse_query_fn=sparse.sparse_query_fn)`` and ``MilvusVectorStore(enable_sparse=True,
    sparse_embedding_function=sparse.as_milvus_function())``. Queries get ``query_instructions``
    as the dense ones do."""

    _dense: ArkEmbedding = PrivateAttr()

    def __init__(self, dense: ArkEmbedding | None = None, **fields: Any) -> None:
        batch = fields.pop("embed_batch_size", None)
        dense = dense_for_sparse(__package__, dense, fields)
        super().__init__(model_name=dense.model_name, embed_batch_size=batch or dense.embed_batch_size)
        self._dense = dense

    @classmethod
    def class_name(cls) -> str:
        return "ArkSparseEmbedding"

    @property
    def dense(self) -> ArkEmbedding:
        return self._dense

    def _get_query_embedding(self, query: str) -> SparseEmbedding:
        return self._dense.query_client.embed_sparse([query])[0]

    async def _aget_query_embedding(self, query: str) -> SparseEmbedding:
        return (await self._dense.query_client.aembed_sparse([query]))[0]

    def _get_text_embedding(self, text: str) -> SparseEmbedding:
        return self._dense.client.embed_sparse([text])[0]

    async def _aget_text_embedding(self, text: str) -> SparseEmbedding:
        return (await self._dense.client.aembed_sparse([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return self._dense.client.embed_sparse(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return await self._dense.client.aembed_sparse(texts)

    # -- LlamaIndex's Qdrant store: (indices, values) per text ----------------------------------

    def sparse_doc_fn(self, texts: list[str]) -> BatchSparse:
        return _split(self.get_text_embedding_batch(texts))

    def sparse_query_fn(self, texts: list[str]) -> BatchSparse:
        return _split([self.get_query_embedding(text) for text in texts])

    # -- LlamaIndex's Milvus store ----------------------------------------------------------------

    def as_milvus_function(self) -> Any:
        """A ``BaseSparseEmbeddingFunction`` for ``MilvusVectorStore(enable_sparse=True, ...)``."""
        from ._milvus import ArkMilvusSparseFunction

        return ArkMilvusSparseFunction(self)
