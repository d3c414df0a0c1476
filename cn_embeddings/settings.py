"""Pydantic field sets shared by the LangChain and LlamaIndex classes.

Both adapters configure the same core client, so the fields that mean the
same thing in both (transport options and each vendor's non-secret options)
are declared once here and mixed into both. Credentials are not: each
framework has its own convention for them (LangChain ``SecretStr`` fields
with environment defaults and ``lc_secrets``; LlamaIndex fields excluded from
serialisation). Importing this module imports pydantic, which ``import
cn_embeddings`` alone never does.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ._client import EmbeddingClient
from ._types import Usage

__all__ = ["ArkSettings", "QianfanSettings", "TencentSettings", "TransportSettings"]


class _Settings(BaseModel):
    # Aliases (appid) and field names (app_id) both work, and 'model_*' names are fine.
    model_config = ConfigDict(populate_by_name=True, protected_namespaces=())


class TransportSettings(_Settings):
    """Transport options, and the core clients they configure (built by each adapter)."""

    vendor: ClassVar[str]
    _client: EmbeddingClient = PrivateAttr()
    _query: EmbeddingClient = PrivateAttr()  # the same client with query instructions (Ark)

    @property
    def client(self) -> EmbeddingClient:
        """The framework-free core client (for usage counters and extra options)."""
        return self._client

    @property
    def usage(self) -> Usage:
        """Tokens, images, requests and retries as the vendor reported them."""
        return self._client.usage

    timeout: float | None = Field(default=60.0, description="Seconds per request attempt.")
    max_retries: int = Field(default=3, description="Retries per request on transport errors, timeouts, "
                                                    "408/409/429/5xx and throttling codes; never on auth or "
                                                    "invalid input.")
    max_concurrency: int = Field(default=8, description="Requests in flight at once per client (threads for "
                                                        "sync calls, a semaphore for async).")
    requests_per_second: float | None = Field(default=None, description="Client-side limit; None uses the "
                                              "vendor's documented quota, 0 turns it off.")
    truncate: bool = Field(default=False, description="Cut texts over the model's length limit instead of "
                                                      "raising InvalidInputError.")
    default_headers: dict[str, str] | None = Field(default=None, description="Extra headers on every request.")


class TencentSettings(_Settings):
    region: str = Field(default="ap-guangzhou", description="Sent as X-TC-Region.")
    base_url: str | None = Field(default=None, description="Defaults to TENCENTCLOUD_ES_BASE_URL or "
                                                           "https://es.tencentcloudapi.com.")
    language: str | None = Field(default="en-US", description="X-TC-Language for error messages "
                                                              "(zh-CN or en-US).")
    api: str | None = Field(default=None, description="Force 'text' or 'multimodal' for a model name not in "
                                                      "the built-in table.")


class QianfanSettings(_Settings):
    app_id: str | None = Field(default=None, alias="appid", description="Optional appid header.")
    base_url: str | None = Field(default=None, description="Defaults to QIANFAN_BASE_URL or "
                                                           "https://qianfan.baidubce.com/v2.")
    api: str | None = Field(default=None, description="'text' or 'multimodal' for a custom service name.")


class ArkSettings(_Settings):
    base_url: str | None = Field(default=None, description="Defaults to ARK_BASE_URL or "
                                                           "https://ark.cn-beijing.volces.com/api/v3.")
    dimensions: int | None = Field(default=None, description="1024 or 2048 for doubao-embedding-vision.")
    instructions: str | None = Field(default=None, description="Sent with documents.")
    query_instructions: str | None = Field(default=None, description="Sent with queries (asymmetric "
                                                                     "retrieval); None sends instructions.")
    encoding_format: str = Field(default="base64", description="'base64' (decoded locally) or 'float'.")
    api: str | None = Field(default=None, description="'text' or 'multimodal' for an endpoint ID (ep-...).")
