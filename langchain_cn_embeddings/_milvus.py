"""langchain-milvus's sparse interface over the same Ark sparse vectors (imported on demand)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_milvus.utils.sparse import BaseSparseEmbedding

from cn_embeddings._types import SparseVector

if TYPE_CHECKING:
    from .embeddings import ArkEmbeddings


class ArkMilvusSparseEmbedding(BaseSparseEmbedding):
    """``{index: value}`` sparse vectors for ``langchain_milvus.Milvus``; see ``ArkSparseEmbeddings``."""

    def __init__(self, dense: ArkEmbeddings) -> None:
        self.dense = dense

    def embed_query(self, query: str) -> dict[int, float]:
        return self.dense.query_client.embed_sparse([query])[0]

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        return self.dense.client.embed_sparse(texts)
