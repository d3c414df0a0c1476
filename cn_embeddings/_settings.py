"""The framework classes' configuration fields, written out so that type checkers and IDEs see them.

Both adapters' classes inherit these pydantic models: the transport fields
(:class:`ClientSettings`), one vendor's option fields, and its credentials.
Each framework class adds only its model field (LangChain ``model``,
LlamaIndex ``model_name``) with the vendor's default model.

The option declarations (``ClientOptions`` and the vendor protocol
dataclasses) stay the one source of truth: names, types, defaults, aliases
and help texts here must equal them, and ``tests/unit_tests/test_declarations.py``
fails on any drift. Credentials are filled from their environment variables
and aliases by :meth:`cn_embeddings._adapters.AdapterMixin` (from the same
declarations), are excluded from every dump, and never appear in a repr.

Imported only by the adapters: it imports pydantic.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "ArkSettings",
    "QianfanRerankSettings",
    "QianfanSettings",
    "TencentRerankSettings",
    "TencentSettings",
    "TokenHubSettings",
    "ClientSettings",
    "VolcengineRerankSettings",
]


def _secret() -> Any:
    return Field(default=None, exclude=True, repr=False)


class _Settings(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True, protected_namespaces=(), extra="forbid", use_attribute_docstrings=True
    )


class ClientSettings(_Settings):
    """``ClientOptions`` as fields: every option besides the vendor's own."""

    timeout: float | None = 60.0
    """Seconds per request attempt; None waits forever."""
    max_retries: int = 3
    """Retries per request on transport errors, timeouts, 408/409/429/5xx and throttling codes; never on auth or
    invalid input."""
    max_concurrency: int = 128
    """The most requests in flight at once for this quota; the rate controller keeps as many as the rate and the
    vendor's latency need, up to this."""
    requests_per_second: float | None = None
    """The quota in requests per second, shared by every client of the same account and model; None uses the
    model's documented quota or finds an unknown one at run time; 0 turns rate control off."""
    batch_size: int | None = None
    """Inputs per request; None uses the vendor limit (a lower value is allowed)."""
    long_inputs: Literal["error", "truncate", "split"] = "error"
    """A text over the model's limit: 'error' raises InvalidInputError; 'truncate' sends its longest prefix within
    the limit; 'split' embeds consecutive pieces within the limit and returns their length-weighted average,
    L2-normalised."""
    truncate: bool = False
    """The same as long_inputs='truncate'."""
    fit_images: bool = False
    """Downscale and re-encode an image that breaks the vendor's size or pixel limits instead of raising
    InvalidInputError (needs Pillow)."""
    default_headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers on every request."""
    extra_body: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("extra_body", "model_kwargs", "additional_kwargs")
    )
    """Extra fields merged into every request body, for fields a vendor added after this release
    (langchain-openai's model_kwargs, LlamaIndex's additional_kwargs); a field the client sets itself is refused
    by name."""
    quota_url: str | None = None
    """redis://host:port/db: share one quota's pacing with every process using the same account and model; env
    CN_EMBEDDINGS_QUOTA_URL; password from env CN_EMBEDDINGS_QUOTA_PASSWORD."""
    tokens_per_minute: int | None = None
    """The quota in tokens per minute; None uses the model's documented quota or finds one from token-quota
    refusals."""
    remember_quota: bool = True
    """Keep a quota learned from refusals for the next run (in the quota_url store, else a small file in the
    user's cache folder; a rate, never a credential; for a day); env CN_EMBEDDINGS_REMEMBER_QUOTA=0 turns it
    off."""
    zero_waits: bool = False
    """Make every retry wait zero seconds (tests only)."""


# -- credentials ---------------------------------------------------------------------------------


class _TencentCredentials(_Settings):
    secret_id: SecretStr | None = _secret()
    """The Tencent Cloud SecretId; defaults to $TENCENTCLOUD_SECRET_ID."""
    secret_key: SecretStr | None = _secret()
    """The Tencent Cloud SecretKey; defaults to $TENCENTCLOUD_SECRET_KEY."""
    token: SecretStr | None = _secret()
    """The session token; defaults to $TENCENTCLOUD_SESSION_TOKEN."""


class _QianfanCredentials(_Settings):
    api_key: SecretStr | None = _secret()
    """The Qianfan API key; defaults to $QIANFAN_API_KEY."""


class _ArkCredentials(_Settings):
    api_key: SecretStr | None = _secret()
    """The Ark API key; defaults to $ARK_API_KEY."""


class _TokenHubCredentials(_Settings):
    api_key: SecretStr | None = _secret()
    """The TokenHub API key; defaults to $TOKENHUB_API_KEY."""


class _VolcengineCredentials(_Settings):
    access_key: SecretStr | None = _secret()
    """The Volcengine access key (AK); defaults to $VOLC_ACCESSKEY."""
    secret_key: SecretStr | None = _secret()
    """The Volcengine secret key (SK); defaults to $VOLC_SECRETKEY."""
    token: SecretStr | None = _secret()
    """The session token; defaults to $VOLC_SESSION_TOKEN."""


# -- embeddings ----------------------------------------------------------------------------------


class TencentSettings(_TencentCredentials, ClientSettings):
    """Tencent Cloud ES embeddings (the model field is the framework class's own)."""

    region: str = "ap-guangzhou"
    """Sent as X-TC-Region."""
    base_url: str | None = None
    """The API host; None uses TENCENTCLOUD_ES_BASE_URL or https://es.tencentcloudapi.com."""
    language: str | None = "en-US"
    """X-TC-Language for error messages (zh-CN or en-US; None omits it)."""
    api: str | None = None
    """'text' or 'multimodal' for a model name not in the built-in table."""
    max_text_chars: int | None = None
    """WeCLIPv2 text limit in characters (default 72)."""


class QianfanSettings(_QianfanCredentials, ClientSettings):
    """Baidu Qianfan v2 embeddings."""

    base_url: str | None = None
    """The API base; None uses QIANFAN_BASE_URL or https://qianfan.baidubce.com/v2."""
    app_id: str | None = Field(default=None, validation_alias=AliasChoices("app_id", "appid"))
    """Optional appid header."""
    user: str | None = None
    """End-user id sent as 'user'."""
    api: str | None = None
    """'text' or 'multimodal' for a custom service name."""


class ArkSettings(_ArkCredentials, ClientSettings):
    """Volcengine Ark embeddings."""

    base_url: str | None = None
    """The API base; None uses ARK_BASE_URL or https://ark.cn-beijing.volces.com/api/v3."""
    api: str | None = None
    """'text' or 'multimodal' for an endpoint ID (ep-...); default multimodal."""
    encoding_format: str = "base64"
    """'base64' (decoded locally, smaller) or 'float'."""
    dimensions: int | None = None
    """1024 or 2048 for doubao-embedding-vision."""
    instructions: str | None = None
    """Sent with documents (multimodal endpoint)."""
    query_instructions: str | None = None
    """Sent with queries instead of instructions (asymmetric retrieval); None sends instructions."""
    sparse: bool = False
    """Also ask for sparse vectors (text-only inputs, multimodal endpoint)."""
    client_side_dimensions: bool | None = None
    """Truncate and L2-normalise locally instead of sending 'dimensions'; None decides by model version."""
    user: str | None = None
    """End-user id sent as 'user' (text endpoint)."""
    video_options: dict[str, float] = Field(default_factory=dict)
    """Defaults for every video input: fps (0.2-5), max_video_tokens (10240-204800), min_frame_tokens (16-128),
    max_frame_tokens (128-640), min_frames (5-16); an input's own values win."""
    multi_embedding: bool = False
    """Also ask for token-level multi-vectors, 2048-d each (doubao-embedding-vision-251215 and later)."""
    multi_embedding_compression: str | None = "zstd"
    """How multi-vectors travel: 'zstd' (float16, decoded locally; needs zstandard) or None (JSON)."""


class TokenHubSettings(_TokenHubCredentials, ClientSettings):
    """Tencent TokenHub embeddings."""

    base_url: str | None = None
    """The API base; None uses TOKENHUB_BASE_URL or https://tokenhub.tencentmaas.com/v1."""
    user: str | None = None
    """End-user id sent as 'user'."""


# -- rerank --------------------------------------------------------------------------------------


class QianfanRerankSettings(_QianfanCredentials, ClientSettings):
    """Baidu Qianfan /v2/rerank."""

    base_url: str | None = None
    """The API base; None uses QIANFAN_BASE_URL or https://qianfan.baidubce.com/v2."""
    app_id: str | None = Field(default=None, validation_alias=AliasChoices("app_id", "appid"))
    """Optional appid header."""


class TencentRerankSettings(_TencentCredentials, ClientSettings):
    """Tencent Cloud ES RunRerank."""

    region: str = "ap-guangzhou"
    """Sent as X-TC-Region."""
    base_url: str | None = None
    """The API host; None uses TENCENTCLOUD_ES_BASE_URL or https://es.tencentcloudapi.com."""
    language: str | None = "en-US"
    """X-TC-Language for error messages (zh-CN or en-US; None omits it)."""


class VolcengineRerankSettings(_VolcengineCredentials, ClientSettings):
    """Volcengine VikingDB knowledge-base rerank."""

    instruction: str | None = None
    """rerank_instruction (doubao-seed-rerank; at most 1,024 characters)."""
    region: str = "cn-north-1"
    """The V4 signing region."""
    base_url: str | None = None
    """The service host; None uses VOLCENGINE_RERANK_BASE_URL or https://api-knowledgebase.mlp.cn-beijing.volces.com."""
