"""Ready-made clients for the three vendors: credentials from arguments or the environment.

Environment variables follow the official SDKs: ``TENCENTCLOUD_SECRET_ID``,
``TENCENTCLOUD_SECRET_KEY`` (and ``TENCENTCLOUD_SESSION_TOKEN``),
``QIANFAN_API_KEY``, ``ARK_API_KEY``. Base URLs can be overridden with
``TENCENTCLOUD_ES_BASE_URL``, ``QIANFAN_BASE_URL`` and ``ARK_BASE_URL``.
"""

from __future__ import annotations

import os
from typing import Any

from ._client import EmbeddingClient
from ._secret import resolve_secret
from .auth import BearerAuth, TC3Auth
from .vendors import ark, qianfan, tencent

__all__ = ["CLIENTS", "DEFAULT_MODELS", "ENV", "ArkClient", "QianfanClient", "TencentCloudClient",
           "clients_from_settings"]

ENV = {
    "tencent": {"secret_id": "TENCENTCLOUD_SECRET_ID", "secret_key": "TENCENTCLOUD_SECRET_KEY",
                "token": "TENCENTCLOUD_SESSION_TOKEN", "base_url": "TENCENTCLOUD_ES_BASE_URL"},
    "qianfan": {"api_key": "QIANFAN_API_KEY", "base_url": "QIANFAN_BASE_URL"},
    "ark": {"api_key": "ARK_API_KEY", "base_url": "ARK_BASE_URL"},
}


def _base_url(value: str | None, vendor: str, default: str) -> str:
    return value or os.environ.get(ENV[vendor]["base_url"]) or default


class TencentCloudClient(EmbeddingClient):
    """Tencent Cloud ES: WeCLIPv2 models use GetMultiModalEmbedding, text models GetTextEmbedding."""

    def __init__(self, model: str = "WeCLIPv2-Base", *, secret_id: Any = None, secret_key: Any = None,
                 token: Any = None, region: str = tencent.DEFAULT_REGION, base_url: str | None = None,
                 language: str | None = "en-US", api: str | None = None, max_text_chars: int | None = None,
                 **options: Any) -> None:
        protocol = tencent.TencentProtocol(model=model, region=region, language=language, api=api,
                                           base_url=_base_url(base_url, "tencent", tencent.DEFAULT_BASE_URL),
                                           max_text_chars=max_text_chars)
        env = ENV["tencent"]
        raw_token = token if token is not None else os.environ.get(env["token"]) or None
        auth = TC3Auth(resolve_secret(secret_id, env["secret_id"], what="Tencent Cloud SecretId"),
                       resolve_secret(secret_key, env["secret_key"], what="Tencent Cloud SecretKey"),
                       resolve_secret(raw_token, env["token"], what="session token") if raw_token else None)
        super().__init__(protocol, auth, **options)


class QianfanClient(EmbeddingClient):
    """Baidu Qianfan v2 embeddings with a bearer API key (``bce-v3/ALTAK-...``)."""

    def __init__(self, model: str = "embedding-v1", *, api_key: Any = None, app_id: str | None = None,
                 base_url: str | None = None, api: str | None = None, user: str | None = None,
                 **options: Any) -> None:
        protocol = qianfan.QianfanProtocol(model=model, app_id=app_id, api=api, user=user,
                                           base_url=_base_url(base_url, "qianfan", qianfan.DEFAULT_BASE_URL))
        key = resolve_secret(api_key, ENV["qianfan"]["api_key"], what="Qianfan API key")
        super().__init__(protocol, BearerAuth(key), **options)


class ArkClient(EmbeddingClient):
    """Volcengine Ark: doubao-embedding-vision (one fused vector per input) and text models."""

    def __init__(self, model: str = "doubao-embedding-vision-250615", *, api_key: Any = None,
                 base_url: str | None = None, api: str | None = None, encoding_format: str = "base64",
                 dimensions: int | None = None, instructions: str | None = None, sparse: bool = False,
                 client_side_dimensions: bool | None = None, user: str | None = None, **options: Any) -> None:
        protocol = ark.ArkProtocol(model=model, api=api, encoding_format=encoding_format, dimensions=dimensions,
                                   instructions=instructions, sparse=sparse, user=user,
                                   client_side_dimensions=client_side_dimensions,
                                   base_url=_base_url(base_url, "ark", ark.DEFAULT_BASE_URL))
        key = resolve_secret(api_key, ENV["ark"]["api_key"], what="Ark API key")
        super().__init__(protocol, BearerAuth(key), **options)





DEFAULT_MODELS = {"tencent": "WeCLIPv2-Base", "qianfan": "embedding-v1", "ark": "doubao-embedding-vision-250615"}
CLIENTS: dict[str, Any] = {"tencent": TencentCloudClient, "qianfan": QianfanClient,
                           "ark": ArkClient}
COMMON_OPTIONS = ("timeout", "max_retries", "max_concurrency", "requests_per_second", "truncate", "default_headers")
VENDOR_OPTIONS = {
    "tencent": ("secret_id", "secret_key", "token", "region", "base_url", "language", "api"),
    "qianfan": ("api_key", "app_id", "base_url", "api"),
    "ark": ("api_key", "base_url", "dimensions", "instructions", "encoding_format", "api"),
}


def clients_from_settings(vendor: str, model: str, settings: object,
                          **extra: Any) -> tuple[EmbeddingClient, EmbeddingClient]:
    """The document and query clients for a framework adapter, from the adapter's own fields.

    Both adapters keep their settings as pydantic fields with these names; this is the one
    place that turns them into a core client. The query client differs only where the
    adapter has ``query_instructions`` (Ark's asymmetric retrieval), and shares everything
    else (connections, limiter, usage) with the document client.
    """
    names = COMMON_OPTIONS + VENDOR_OPTIONS[vendor]
    client = CLIENTS[vendor](model, **{n: getattr(settings, n) for n in names if hasattr(settings, n)}, **extra)
    query_instructions = getattr(settings, "query_instructions", None)
    query = client if query_instructions is None else client.variant(instructions=query_instructions)
    return client, query
