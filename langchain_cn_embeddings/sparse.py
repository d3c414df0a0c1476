"""Ark sparse vectors for LangChain hybrid stores: langchain-qdrant and langchain-milvus.

``ArkEmbeddings(sparse=True)`` receives a sparse vector with every dense one
(one request per text); ``dense.as_sparse()`` returns an
:class:`ArkSparseEmbeddings` that answers from those before sending anything.
A hybrid store over N texts therefore sends N requests, not 2N. Built alone
(``ArkSparseEmbeddings(model=..., api_key=...)``), it sends its own requests.

Needs ``pip install 'cn-embeddings[qdrant]'`` (langchain-qdrant); ``for_milvus()``
needs langchain-milvus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_qdrant import SparseEmbeddings, SparseVector

from cn_embeddings._adapters import dense_for_sparse
from cn_embeddings._types import SparseVector as SparseDict

if TYPE_CHECKING:
    from .embeddings import ArkEmbeddings

__all__ = ["ArkSparseEmbeddings"]


def _qdrant(vector: SparseDict) -> SparseVector:
    indices = sorted(vector)
    return SparseVector(indices=indices, values=[vector[i] for i in indices])


class ArkSparseEmbeddings(SparseEmbeddings):
    """Sparse vectors from Volcengine Ark (text-only inputs, multimodal models), as langchain-qdrant's
    ``SparseEmbeddings``: ``QdrantVectorStore(embedding=dense, sparse_embedding=dense.as_sparse(),
    retrieval_mode=RetrievalMode.HYBRID)``. Queries get ``query_instructions`` as the dense ones do."""

    def __init__(self, dense: ArkEmbeddings | None = None, **fields: Any) -> None:
        self.dense = dense_for_sparse(__package__, dense, fields)

    def __repr__(self) -> str:
        return f"ArkSparseEmbeddings(model={self.dense.model!r})"

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        return [_qdrant(v) for v in self.dense.client.embed_sparse(texts)]

    def embed_query(self, text: str) -> SparseVector:
        return _qdrant(self.dense.query_client.embed_sparse([text])[0])

    async def aembed_documents(self, texts: list[str]) -> list[SparseVector]:
        return [_qdrant(v) for v in await self.dense.client.aembed_sparse(texts)]

    async def aembed_query(self, text: str) -> SparseVector:
        return _qdrant((await self.dense.query_client.aembed_sparse([text]))[0])

    def for_milvus(self) -> Any:
        """The same vectors as langchain-milvus's ``BaseSparseEmbedding`` (``{index: value}``):
        ``Milvus(embedding_function=[dense, sparse.for_milvus()], vector_field=["dense", "sparse"], ...)``."""
        from ._milvus import ArkMilvusSparseEmbedding

        return ArkMilvusSparseEmbedding(self.dense)
