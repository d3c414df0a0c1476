"""Ready-made clients for the three vendors: credentials from arguments or the environment.

Every keyword a client takes is declared once: the vendor's options in its
protocol dataclass (``vendors/tencent.py``, ``qianfan.py``, ``ark.py``), the
client_client options in :class:`~cn_embeddings._options.ClientOptions`, the
credentials in the vendor module's ``CREDENTIALS``. Environment variables
follow the official SDKs: ``TENCENTCLOUD_SECRET_ID``, ``TENCENTCLOUD_SECRET_KEY``
(and ``TENCENTCLOUD_SESSION_TOKEN``), ``QIANFAN_API_KEY``, ``ARK_API_KEY``; base
URLs ``TENCENTCLOUD_ES_BASE_URL``, ``QIANFAN_BASE_URL`` and ``ARK_BASE_URL``.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx

from ._client import EmbeddingClient
from ._exceptions import ConfigurationError
from ._keywords import ArkKeywords, QianfanKeywords, TencentKeywords, TokenHubKeywords
from ._options import ClientOptions, Credential, OptionSpec, declared
from ._secret import Secret, resolve_secret
from ._types import UsageCounter
from .vendors import ark, qianfan, tencent, tokenhub

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = [
    "CLIENTS",
    "DEFAULT_MODELS",
    "VENDORS",
    "ArkClient",
    "QianfanClient",
    "TencentCloudClient",
    "TokenHubClient",
    "credentials_of",
    "options_of",
]

VENDORS: dict[str, ModuleType] = {"tencent": tencent, "qianfan": qianfan, "ark": ark, "tokenhub": tokenhub}
PROTOCOLS = {
    "tencent": tencent.TencentProtocol,
    "qianfan": qianfan.QianfanProtocol,
    "ark": ark.ArkProtocol,
    "tokenhub": tokenhub.TokenHubProtocol,
}
DEFAULT_MODELS = {vendor: module.DEFAULT_MODEL for vendor, module in VENDORS.items()}


def options_of(vendor: str) -> tuple[OptionSpec, ...]:
    """Every declared option of a vendor's clients: its protocol's, then the client_options's."""
    return declared(PROTOCOLS[vendor]) + declared(ClientOptions)


def credentials_of(vendor: str) -> tuple[Credential, ...]:
    credentials: tuple[Credential, ...] = VENDORS[vendor].CREDENTIALS
    return credentials


def _wrapped(value: Any) -> Any:
    return Secret(value) if isinstance(value, str) else value


def _check_base_url(url: Any, env: str) -> str | None:
    """A base URL is http(s) with a host, or None; anything else fails here, not as four retried
    connection errors."""
    if url is None:
        return None
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        host = parts.hostname if parts else None
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ConfigurationError(
            f"base_url must be an http(s) URL with a host, like https://host/path (from base_url= or ${env})"
        )
    return str(url)


def split_options(
    owner: str, protocol: type, options: dict[str, Any], extra: Iterable[str] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(protocol options, client_client options); an unknown keyword is refused by name."""
    protocol_names = {s.name for s in declared(protocol)}
    client_names = {s.name for s in declared(ClientOptions)}
    unknown = sorted(set(options) - protocol_names - client_names)
    if unknown:
        allowed = sorted(protocol_names | client_names | set(extra))
        raise ConfigurationError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for {owner}; allowed: {', '.join(allowed)}"
        )
    return (
        {k: v for k, v in options.items() if k in protocol_names},
        {k: v for k, v in options.items() if k in client_names},
    )


def from_keywords(
    owner: str,
    protocol: type,
    credentials: tuple[Credential, ...],
    base_url_env: str,
    make_auth: Callable[[Mapping[str, Secret | None], Any], httpx.Auth],
    model: str | None,
    options: dict[str, Any],
) -> tuple[Any, httpx.Auth, dict[str, Any]]:
    """(protocol, auth, client_client options) of a ready-made client (embeddings or rerank) from the
    keywords it was given: credentials from them or the environment, the base URL checked, an
    unknown keyword refused by name. ``make_auth`` gets the resolved secrets and the protocol."""
    # wrapped at once, so that no frame of ours holds a credential as a plain string
    secrets = {c.name: _wrapped(options.pop(c.name, None)) for c in credentials}
    protocol_options, client_options = split_options(owner, protocol, options, extra=set(secrets))
    if model:
        protocol_options["model"] = model
    protocol_options["base_url"] = _check_base_url(
        options.get("base_url") or os.environ.get(base_url_env) or None, base_url_env
    )
    built = protocol(**protocol_options)
    return built, make_auth(_resolve(credentials, secrets), built), client_options


class VendorClient(EmbeddingClient):
    """An :class:`EmbeddingClient` built from keyword options; unknown keywords are refused by name."""

    vendor: ClassVar[str]

    def __init__(
        self,
        model: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        http_async_client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        module = VENDORS[self.vendor]
        protocol, auth, client_options = from_keywords(
            type(self).__name__,
            PROTOCOLS[self.vendor],
            module.CREDENTIALS,
            module.BASE_URL_ENV,
            lambda secrets, protocol: module.make_auth(secrets),
            model,
            options,
        )
        super().__init__(protocol, auth, http_client=http_client, http_async_client=http_async_client, **client_options)

    @classmethod
    def _split(cls, options: dict[str, Any], extra: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
        return split_options(cls.__name__, PROTOCOLS[cls.vendor], options, extra)

    def with_options(self, **changes: Any) -> VendorClient:
        """A new client with some options changed and the same credentials (connections are its own;
        the limiter is shared when the quota is the same)."""
        protocol_changes, option_changes = self._split(changes)
        twin = object.__new__(type(self))
        twin._configure(
            dataclasses.replace(self.protocol, **protocol_changes),  # type: ignore[type-var]
            self._auth,
            dataclasses.replace(self.options, **option_changes),
            UsageCounter(),
            None,
        )
        return twin


def _resolve(credentials: tuple[Credential, ...], given: dict[str, Any]) -> dict[str, Secret | None]:
    resolved: dict[str, Secret | None] = {}
    for cred in credentials:
        value = given.get(cred.name)
        if cred.required or value is not None or os.environ.get(cred.env):
            resolved[cred.name] = resolve_secret(value, cred.env, what=cred.what)
        else:
            resolved[cred.name] = None
    return resolved


def keyword_signature(options: tuple[OptionSpec, ...], credentials: tuple[Credential, ...]) -> inspect.Signature:
    """The keyword signature the declarations describe, with their defaults, for help()."""
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
    params += [inspect.Parameter(c.name, kw, default=None) for c in credentials]
    params += [inspect.Parameter(s.name, kw, default=s.default) for s in options if s.name != "model"]
    params += [inspect.Parameter(n, kw, default=None) for n in ("http_client", "http_async_client")]
    return inspect.Signature(params)


class TencentCloudClient(VendorClient):
    """Tencent Cloud ES: WeCLIPv2 models use GetMultiModalEmbedding, text models GetTextEmbedding."""

    vendor = "tencent"

    if TYPE_CHECKING:  # the keywords, for type checkers; at run time the base class takes and checks them
        # Generated by scripts/spellings.py
        def __init__(
            self,
            model: str | None = None,
            *,
            http_client: httpx.Client | None = None,
            http_async_client: httpx.AsyncClient | None = None,
            **options: Unpack[TencentKeywords],
        ) -> None: ...


class QianfanClient(VendorClient):
    """Baidu Qianfan v2 embeddings with a bearer API key (``bce-v3/ALTAK-...``)."""

    vendor = "qianfan"

    if TYPE_CHECKING:  # the keywords, for type checkers; at run time the base class takes and checks them
        # Generated by scripts/spellings.py
        def __init__(
            self,
            model: str | None = None,
            *,
            http_client: httpx.Client | None = None,
            http_async_client: httpx.AsyncClient | None = None,
            **options: Unpack[QianfanKeywords],
        ) -> None: ...


class ArkClient(VendorClient):
    """Volcengine Ark: doubao-embedding-vision (one fused vector per input) and text models."""

    vendor = "ark"

    if TYPE_CHECKING:  # the keywords, for type checkers; at run time the base class takes and checks them
        # Generated by scripts/spellings.py
        def __init__(
            self,
            model: str | None = None,
            *,
            http_client: httpx.Client | None = None,
            http_async_client: httpx.AsyncClient | None = None,
            **options: Unpack[ArkKeywords],
        ) -> None: ...


class TokenHubClient(VendorClient):
    """Tencent TokenHub embeddings (OpenAI-compatible, bearer key): kinfra-text-embedding-0.6b and -4b."""

    vendor = "tokenhub"

    if TYPE_CHECKING:  # the keywords, for type checkers; at run time the base class takes and checks them
        # Generated by scripts/spellings.py
        def __init__(
            self,
            model: str | None = None,
            *,
            http_client: httpx.Client | None = None,
            http_async_client: httpx.AsyncClient | None = None,
            **options: Unpack[TokenHubKeywords],
        ) -> None: ...


CLIENTS: dict[str, type[VendorClient]] = {
    "tencent": TencentCloudClient,
    "qianfan": QianfanClient,
    "ark": ArkClient,
    "tokenhub": TokenHubClient,
}
for _vendor, _cls in CLIENTS.items():
    _cls.__signature__ = keyword_signature(options_of(_vendor), credentials_of(_vendor))  # type: ignore[attr-defined]
