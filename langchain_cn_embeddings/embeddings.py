"""LangChain Embeddings for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark.

Each class's fields come from its vendor's option declarations; see the
README for the full list, or ``ArkEmbeddings.model_fields``.
"""

from __future__ import annotations

from typing import Any

from cn_embeddings._adapters import settings_model

from ._base import CNEmbeddingsBase

__all__ = ["ArkEmbeddings", "QianfanEmbeddings", "TencentCloudEmbeddings", "TokenHubEmbeddings"]


class TencentCloudEmbeddings(settings_model("tencent", model_field="model", exclude_secrets=False),  # type: ignore[misc]
                             CNEmbeddingsBase):
    """Tencent Cloud ES embeddings (TC3-signed).

    ``WeCLIPv2-Base``/``-Large`` embed texts and images (separate vectors, no
    fusion); text models such as ``bge-m3`` use GetTextEmbedding.

    Example:
        .. code-block:: python

            emb = TencentCloudEmbeddings(model="WeCLIPv2-Base")  # TENCENTCLOUD_SECRET_ID / _KEY
            emb.embed_documents(["红色帽子"]); emb.embed_image(["cat.png"])
    """

    vendor = "tencent"


class QianfanEmbeddings(settings_model("qianfan", model_field="model", exclude_secrets=False),  # type: ignore[misc]
                        CNEmbeddingsBase):
    """Baidu Qianfan v2 embeddings: embedding-v1, bge-large-zh/en, tao-8k and the
    multimodal gme-qwen2-vl-2b-instruct (a text+image pair fuses into one vector)."""

    vendor = "qianfan"


class ArkEmbeddings(settings_model("ark", model_field="model", exclude_secrets=False),  # type: ignore[misc]
                    CNEmbeddingsBase):
    """Volcengine Ark embeddings: doubao-embedding-vision (text, image and video fused
    into one vector per input) and the doubao text models.

    ``instructions`` go with documents, ``query_instructions`` (when set) with
    ``embed_query``, so retrieval can be asymmetric.
    """

    vendor = "ark"

    def as_sparse(self) -> Any:
        """The sparse side of a hybrid store, answering from this object's requests (needs
        ``sparse=True`` and langchain-qdrant): see :class:`langchain_cn_embeddings.sparse.ArkSparseEmbeddings`."""
        from .sparse import ArkSparseEmbeddings

        return ArkSparseEmbeddings(self)


class TokenHubEmbeddings(settings_model("tokenhub", model_field="model", exclude_secrets=False),  # type: ignore[misc]
                         CNEmbeddingsBase):
    """Tencent TokenHub embeddings (OpenAI-compatible, ``TOKENHUB_API_KEY``): kinfra-text-embedding-0.6b
    (1024-d) and kinfra-text-embedding-4b (2560-d), texts of at most 2,000 characters."""

    vendor = "tokenhub"
