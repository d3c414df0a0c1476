"""The core clients' keyword arguments, written out so that type checkers and IDEs see them.

``ArkClient(dimensoins=1024)`` is a type error where these are used
(``**options: Unpack[ArkKeywords]``). The declarations (``ClientOptions``,
the vendor protocol dataclasses and ``CREDENTIALS``) stay the one source of
truth: ``tests/unit_tests/test_declarations.py`` holds every name and type
here equal to them. At run time an unknown keyword is refused by name all the
same (:func:`cn_embeddings.clients.split_options`).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypedDict

from ._secret import Secret

__all__ = [
    "ArkKeywords",
    "QianfanKeywords",
    "QianfanRerankKeywords",
    "TencentKeywords",
    "TencentRerankKeywords",
    "TokenHubKeywords",
    "ClientKeywords",
    "VolcengineRerankKeywords",
]


class _HasSecretValue(Protocol):
    """pydantic's ``SecretStr``, or anything else that hands its value over on request."""

    def get_secret_value(self) -> str: ...


class ClientKeywords(TypedDict, total=False):
    """``ClientOptions`` as keywords."""

    timeout: float | None
    max_retries: int
    max_concurrency: int
    requests_per_second: float | None
    batch_size: int | None
    long_inputs: Literal["error", "truncate", "split"]
    truncate: bool
    fit_images: bool
    default_headers: dict[str, str]
    extra_body: dict[str, Any]
    quota_url: str | None
    tokens_per_minute: int | None
    remember_quota: bool
    zero_waits: bool


class _TencentCredentials(TypedDict, total=False):
    secret_id: str | Secret | _HasSecretValue | None
    secret_key: str | Secret | _HasSecretValue | None
    token: str | Secret | _HasSecretValue | None


class _ApiKey(TypedDict, total=False):
    api_key: str | Secret | _HasSecretValue | None


class TencentKeywords(_TencentCredentials, ClientKeywords, total=False):
    region: str
    base_url: str | None
    language: str | None
    api: str | None
    max_text_chars: int | None


class QianfanKeywords(_ApiKey, ClientKeywords, total=False):
    base_url: str | None
    app_id: str | None
    user: str | None
    api: str | None


class ArkKeywords(_ApiKey, ClientKeywords, total=False):
    base_url: str | None
    api: str | None
    encoding_format: str
    dimensions: int | None
    instructions: str | None
    query_instructions: str | None
    sparse: bool
    client_side_dimensions: bool | None
    user: str | None
    video_options: dict[str, float]
    multi_embedding: bool
    multi_embedding_compression: str | None


class TokenHubKeywords(_ApiKey, ClientKeywords, total=False):
    base_url: str | None
    user: str | None


class QianfanRerankKeywords(_ApiKey, ClientKeywords, total=False):
    base_url: str | None
    app_id: str | None


class TencentRerankKeywords(_TencentCredentials, ClientKeywords, total=False):
    region: str
    base_url: str | None
    language: str | None


class VolcengineRerankKeywords(ClientKeywords, total=False):
    access_key: str | Secret | _HasSecretValue | None
    secret_key: str | Secret | _HasSecretValue | None
    token: str | Secret | _HasSecretValue | None
    instruction: str | None
    region: str
    base_url: str | None
