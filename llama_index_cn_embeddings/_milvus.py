"""LlamaIndex Milvus store's sparse interface over the same Ark sparse vectors (imported on demand)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llama_index.vector_stores.milvus.utils import BaseSparseEmbeddingFunction

if TYPE_CHECKING:
    from .sparse import ArkSparseEmbedding


class ArkMilvusSparseFunction(BaseSparseEmbeddingFunction):
    """``{index: value}`` vectors for ``MilvusVectorStore(enable_sparse=True, ...)``."""

    def __init__(self, sparse: ArkSparseEmbedding) -> None:
        self.sparse = sparse

    def encode_queries(self, queries: list[str]) -> list[dict[int, float]]:
        return [self.sparse.get_query_embedding(q) for q in queries]

    def encode_documents(self, documents: list[str]) -> list[dict[int, float]]:
        return self.sparse.get_text_embedding_batch(documents)
