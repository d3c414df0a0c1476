"""LlamaIndex MultiModalEmbedding classes for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark.

Credentials are ``SecretStr`` fields filled from the environment and excluded
from ``to_dict()``/``to_json()``, so ``from_dict()`` rebuilds a working object
from the environment; a pickle carries them, so that a worker can call the vendor.
"""

from __future__ import annotations

from typing import Any

from cn_embeddings._settings import ArkSettings, QianfanSettings, TencentSettings, TokenHubSettings

from ._base import CNEmbeddingBase, model_name_field

__all__ = ["ArkEmbedding", "QianfanEmbedding", "TencentCloudEmbedding", "TokenHubEmbedding"]


class TencentCloudEmbedding(CNEmbeddingBase, TencentSettings):
    """Tencent Cloud ES (TC3-signed): WeCLIPv2 for texts and images, bge/Conan/Qwen3 for texts."""

    vendor = "tencent"

    model_name: str = model_name_field("WeCLIPv2-Base")
    """WeCLIPv2-Base/-Large (texts and images) or a GetTextEmbedding model."""


class QianfanEmbedding(CNEmbeddingBase, QianfanSettings):
    """Baidu Qianfan v2: embedding-v1, bge-large-zh/en, tao-8k, gme-qwen2-vl-2b-instruct."""

    vendor = "qianfan"

    model_name: str = model_name_field("embedding-v1")
    """embedding-v1, bge-large-zh/en, tao-8k or gme-qwen2-vl-2b-instruct."""


class ArkEmbedding(CNEmbeddingBase, ArkSettings):
    """Volcengine Ark: doubao-embedding-vision (one fused vector per input) and doubao text models.

    ``query_instructions`` (when set) is sent with query embeddings and
    ``instructions`` with documents, so retrieval can be asymmetric.
    """

    vendor = "ark"

    model_name: str = model_name_field("doubao-embedding-vision-251215")
    """A doubao-embedding(-vision) model ID or an endpoint ID (ep-...)."""

    def as_sparse(self) -> Any:
        """The sparse side of a hybrid index, answering from this object's requests (needs
        ``sparse=True``): see :class:`llama_index_cn_embeddings.sparse.ArkSparseEmbedding`."""
        from .sparse import ArkSparseEmbedding

        return ArkSparseEmbedding(self)


class TokenHubEmbedding(CNEmbeddingBase, TokenHubSettings):
    """Tencent TokenHub embeddings (OpenAI-compatible, ``TOKENHUB_API_KEY``); texts only."""

    vendor = "tokenhub"

    model_name: str = model_name_field("kinfra-text-embedding-0.6b")
    """kinfra-text-embedding-0.6b (1024-d) or kinfra-text-embedding-4b (2560-d)."""
