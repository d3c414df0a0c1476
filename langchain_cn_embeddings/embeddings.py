"""LangChain Embeddings for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark.

Each class's fields are its vendor's options (``cn_embeddings._settings``), typed and
documented; ``model`` is the model or endpoint.
"""

from __future__ import annotations

from typing import Any

from cn_embeddings._settings import ArkSettings, QianfanSettings, TencentSettings, TokenHubSettings

from ._base import CNEmbeddingsBase

__all__ = ["ArkEmbeddings", "QianfanEmbeddings", "TencentCloudEmbeddings", "TokenHubEmbeddings"]


class TencentCloudEmbeddings(CNEmbeddingsBase, TencentSettings):
    """Tencent Cloud ES embeddings (TC3-signed).

    ``WeCLIPv2-Base``/``-Large`` embed texts and images (separate vectors, no
    fusion); text models such as ``bge-m3`` use GetTextEmbedding.

    Example:
        .. code-block:: python

            emb = TencentCloudEmbeddings(model="WeCLIPv2-Base")  # TENCENTCLOUD_SECRET_ID / _KEY
            emb.embed_documents(["红色帽子"]); emb.embed_image(["cat.png"])
    """

    vendor = "tencent"

    model: str = "WeCLIPv2-Base"
    """WeCLIPv2-Base/-Large (texts and images) or a GetTextEmbedding model."""


class QianfanEmbeddings(CNEmbeddingsBase, QianfanSettings):
    """Baidu Qianfan v2 embeddings: embedding-v1, bge-large-zh/en, tao-8k and the
    multimodal gme-qwen2-vl-2b-instruct (a text+image pair fuses into one vector)."""

    vendor = "qianfan"

    model: str = "embedding-v1"
    """embedding-v1, bge-large-zh/en, tao-8k or gme-qwen2-vl-2b-instruct."""


class ArkEmbeddings(CNEmbeddingsBase, ArkSettings):
    """Volcengine Ark embeddings: doubao-embedding-vision (text, image and video fused
    into one vector per input) and the doubao text models.

    ``instructions`` go with documents, ``query_instructions`` (when set) with
    ``embed_query``, so retrieval can be asymmetric.
    """

    vendor = "ark"

    model: str = "doubao-embedding-vision-251215"
    """A doubao-embedding(-vision) model ID or an endpoint ID (ep-...)."""

    def as_sparse(self) -> Any:
        """The sparse side of a hybrid store, answering from this object's requests (needs
        ``sparse=True`` and langchain-qdrant): see :class:`langchain_cn_embeddings.sparse.ArkSparseEmbeddings`."""
        from .sparse import ArkSparseEmbeddings

        return ArkSparseEmbeddings(self)


class TokenHubEmbeddings(CNEmbeddingsBase, TokenHubSettings):
    """Tencent TokenHub embeddings (OpenAI-compatible, ``TOKENHUB_API_KEY``): kinfra-text-embedding-0.6b
    (1024-d) and kinfra-text-embedding-4b (2560-d), texts of at most 2,000 characters."""

    vendor = "tokenhub"

    model: str = "kinfra-text-embedding-0.6b"
    """kinfra-text-embedding-0.6b (1024-d) or kinfra-text-embedding-4b (2560-d)."""
