"""LangChain document compressors over the three vendors' rerank services.

Each class is a ``BaseDocumentCompressor`` (so it works in
``ContextualCompressionRetriever``) with native ``acompress_documents``. Its
fields come from the vendor's rerank declarations plus ``top_n`` (3). The
documents returned are copies, best first, with ``metadata["relevance_score"]``;
the documents passed in are left untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document

from cn_embeddings import RerankResult
from cn_embeddings._adapters import RerankClients
from cn_embeddings._settings import QianfanRerankSettings, TencentRerankSettings, VolcengineRerankSettings

from ._base import LangChainAdapter

__all__ = ["QianfanRerank", "TencentCloudRerank", "VolcengineRerank"]


class CNRerankBase(RerankClients, LangChainAdapter, BaseDocumentCompressor):
    kind = "rerank"

    top_n: int | None = 3
    """How many documents to return, best first (None: all)."""

    def rerank(
        self, documents: Sequence[str | Document], query: str, *, top_n: int | None = -1
    ) -> list[dict[str, Any]]:
        """``[{"index", "relevance_score"}]``, best first (``top_n`` -1: this object's ``top_n``)."""
        result = self.client.rerank(query, _texts(documents), self.top_n if top_n == -1 else top_n)
        return [{"index": r.index, "relevance_score": r.relevance_score} for r in result.results]

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        return _copies(documents, self.client.rerank(query, _texts(documents), self.top_n))

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        return _copies(documents, await self.client.arerank(query, _texts(documents), self.top_n))


def _texts(documents: Sequence[str | Document]) -> list[str]:
    return [d.page_content if isinstance(d, Document) else d for d in documents]


def _copies(documents: Sequence[Document], result: RerankResult) -> list[Document]:
    out = []
    for ranked in result.results:
        document = documents[ranked.index]
        out.append(
            Document(
                page_content=document.page_content,
                id=document.id,
                metadata={**document.metadata, "relevance_score": ranked.relevance_score},
            )
        )
    return out


class QianfanRerank(CNRerankBase, QianfanRerankSettings):
    """Baidu Qianfan ``/v2/rerank`` (``bce-reranker-base``); ``QIANFAN_API_KEY``."""

    vendor = "qianfan"

    model: str = "bce-reranker-base"
    """bce-reranker-base, or a rerank service's API name (qwen3-reranker-8b is seen in use)."""


class TencentCloudRerank(CNRerankBase, TencentRerankSettings):
    """Tencent Cloud ES ``RunRerank`` (``bge-reranker-large``, ``bge-reranker-v2-m3``); TC3 signed with
    ``TENCENTCLOUD_SECRET_ID`` / ``TENCENTCLOUD_SECRET_KEY``."""

    vendor = "tencent"

    model: str = "bge-reranker-large"
    """bge-reranker-large or bge-reranker-v2-m3."""


class VolcengineRerank(CNRerankBase, VolcengineRerankSettings):
    """Volcengine VikingDB knowledge-base rerank (``base-multilingual-rerank``, ``doubao-seed-rerank``,
    ``m3-v2-rerank``); V4 signed with ``VOLC_ACCESSKEY`` / ``VOLC_SECRETKEY``."""

    vendor = "volcengine"

    model: str = "base-multilingual-rerank"
    """doubao-seed-rerank, base-multilingual-rerank or m3-v2-rerank."""
