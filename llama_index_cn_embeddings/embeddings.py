"""LlamaIndex MultiModalEmbedding classes for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark.

Credentials are ``SecretStr`` fields filled from the environment and excluded
from ``to_dict()``/``to_json()``, so ``from_dict()`` rebuilds a working object
from the environment; a pickle carries them, so that a worker can call the vendor.
"""

from __future__ import annotations

from typing import Any

from cn_embeddings._adapters import settings_model

from ._base import CNEmbeddingBase

__all__ = ["ArkEmbedding", "QianfanEmbedding", "TencentCloudEmbedding", "TokenHubEmbedding"]


class TencentCloudEmbedding(settings_model("tencent", model_field="model_name", exclude_secrets=True),  # type: ignore[misc]
                            CNEmbeddingBase):
    """Tencent Cloud ES (TC3-signed): WeCLIPv2 for texts and images, bge/Conan/Qwen3 for texts."""

    vendor = "tencent"


class QianfanEmbedding(settings_model("qianfan", model_field="model_name", exclude_secrets=True),  # type: ignore[misc]
                       CNEmbeddingBase):
    """Baidu Qianfan v2: embedding-v1, bge-large-zh/en, tao-8k, gme-qwen2-vl-2b-instruct."""

    vendor = "qianfan"


class ArkEmbedding(settings_model("ark", model_field="model_name", exclude_secrets=True),  # type: ignore[misc]
                   CNEmbeddingBase):
    """Volcengine Ark: doubao-embedding-vision (one fused vector per input) and doubao text models.

    ``query_instructions`` (when set) is sent with query embeddings and
    ``instructions`` with documents, so retrieval can be asymmetric.
    """

    vendor = "ark"

    def as_sparse(self) -> Any:
        """The sparse side of a hybrid index, answering from this object's requests (needs
        ``sparse=True``): see :class:`llama_index_cn_embeddings.sparse.ArkSparseEmbedding`."""
        from .sparse import ArkSparseEmbedding

        return ArkSparseEmbedding(self)


class TokenHubEmbedding(settings_model("tokenhub", model_field="model_name", exclude_secrets=True),  # type: ignore[misc]
                        CNEmbeddingBase):
    """Tencent TokenHub embeddings (OpenAI-compatible, ``TOKENHUB_API_KEY``); texts only."""

    vendor = "tokenhub"
