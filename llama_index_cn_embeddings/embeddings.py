"""LlamaIndex MultiModalEmbedding classes for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark.

Credentials are never fields that serialise: they come from arguments or the
environment and are excluded from ``to_dict()``/``to_json()``, so
``from_dict()`` rebuilds a working object from the environment.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr

from cn_embeddings.settings import ArkSettings, QianfanSettings, TencentSettings

from ._base import CNEmbeddingBase

__all__ = ["ArkEmbedding", "QianfanEmbedding", "TencentCloudEmbedding"]


def _secret(description: str) -> Any:
    return Field(default=None, exclude=True, repr=False, description=description)


class TencentCloudEmbedding(CNEmbeddingBase, TencentSettings):
    """Tencent Cloud ES (TC3-signed): WeCLIPv2 for texts and images, bge/Conan/Qwen3 for texts."""

    vendor = "tencent"

    model_name: str = "WeCLIPv2-Base"
    secret_id: SecretStr | None = _secret("Defaults to TENCENTCLOUD_SECRET_ID.")
    secret_key: SecretStr | None = _secret("Defaults to TENCENTCLOUD_SECRET_KEY.")
    token: SecretStr | None = _secret("STS session token; defaults to TENCENTCLOUD_SESSION_TOKEN.")

    @classmethod
    def class_name(cls) -> str:
        return "TencentCloudEmbedding"


class QianfanEmbedding(CNEmbeddingBase, QianfanSettings):
    """Baidu Qianfan v2: embedding-v1, bge-large-zh/en, tao-8k, gme-qwen2-vl-2b-instruct."""

    vendor = "qianfan"

    model_name: str = "embedding-v1"
    api_key: SecretStr | None = _secret("Defaults to QIANFAN_API_KEY.")

    @classmethod
    def class_name(cls) -> str:
        return "QianfanEmbedding"


class ArkEmbedding(CNEmbeddingBase, ArkSettings):
    """Volcengine Ark: doubao-embedding-vision (one fused vector per input) and doubao text models.

    ``query_instructions`` (when set) is sent with query embeddings and
    ``instructions`` with documents, so retrieval can be asymmetric.
    """

    vendor = "ark"

    model_name: str = "doubao-embedding-vision-250615"
    api_key: SecretStr | None = _secret("Defaults to ARK_API_KEY.")

    @classmethod
    def class_name(cls) -> str:
        return "ArkEmbedding"
