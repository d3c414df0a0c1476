"""LangChain Embeddings for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark."""

from __future__ import annotations

from langchain_core.utils import secret_from_env
from pydantic import Field, SecretStr

from cn_embeddings.clients import ENV
from cn_embeddings.settings import ArkSettings, QianfanSettings, TencentSettings

from ._base import CNEmbeddingsBase

__all__ = ["ArkEmbeddings", "QianfanEmbeddings", "TencentCloudEmbeddings"]


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
    secret_id: SecretStr | None = Field(default_factory=secret_from_env(ENV["tencent"]["secret_id"], default=None),
                                        alias="tencentcloud_secret_id")
    secret_key: SecretStr | None = Field(default_factory=secret_from_env(ENV["tencent"]["secret_key"], default=None),
                                         alias="tencentcloud_secret_key")
    token: SecretStr | None = Field(default_factory=secret_from_env(ENV["tencent"]["token"], default=None),
                                    alias="session_token")

    @property
    def lc_secrets(self) -> dict[str, str]:
        env = ENV["tencent"]
        return {"secret_id": env["secret_id"], "secret_key": env["secret_key"], "token": env["token"]}


class QianfanEmbeddings(CNEmbeddingsBase, QianfanSettings):
    """Baidu Qianfan v2 embeddings: embedding-v1, bge-large-zh/en, tao-8k and the
    multimodal gme-qwen2-vl-2b-instruct (a text+image pair fuses into one vector)."""

    vendor = "qianfan"

    model: str = "embedding-v1"
    api_key: SecretStr | None = Field(default_factory=secret_from_env(ENV["qianfan"]["api_key"], default=None),
                                      alias="qianfan_api_key")

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": ENV["qianfan"]["api_key"]}


class ArkEmbeddings(CNEmbeddingsBase, ArkSettings):
    """Volcengine Ark embeddings: doubao-embedding-vision (text, image and video fused
    into one vector per input) and the doubao text models.

    ``instructions`` go with documents, ``query_instructions`` (when set) with
    ``embed_query``, so retrieval can be asymmetric.
    """

    vendor = "ark"

    model: str = "doubao-embedding-vision-250615"
    api_key: SecretStr | None = Field(default_factory=secret_from_env(ENV["ark"]["api_key"], default=None),
                                      alias="ark_api_key")

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": ENV["ark"]["api_key"]}
