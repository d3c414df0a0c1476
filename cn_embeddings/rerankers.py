"""Ready-made rerank clients for the three vendors: credentials from arguments or the environment.

As for the embedding clients, every keyword is declared once: the vendor's
options in its rerank protocol (``vendors/rerank.py``), the client_client options
in :class:`~cn_embeddings._options.ClientOptions`, the credentials beside
the vendor. Qianfan and Tencent take the credentials and base URL variables of
their embedding clients; Volcengine takes an access key pair
(``VOLC_ACCESSKEY``, ``VOLC_SECRETKEY``, as the volcengine SDK reads them).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from ._keywords import QianfanRerankKeywords, TencentRerankKeywords, VolcengineRerankKeywords
from ._options import ClientOptions, Credential, OptionSpec, declared
from ._rerank import RerankClient
from ._secret import Secret
from .clients import from_keywords, keyword_signature
from .vendors import qianfan, tencent
from .vendors import rerank as wire

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = [
    "RERANKERS",
    "QianfanRerankClient",
    "RerankVendor",
    "TencentCloudRerankClient",
    "VolcengineRerankClient",
    "rerank_options_of",
]


@dataclass(frozen=True)
class RerankVendor:
    """What it takes to build one vendor's rerank client."""

    protocol: type[wire.RerankProtocol]
    credentials: tuple[Credential, ...]
    base_url_env: str
    make_auth: Callable[[Mapping[str, Secret | None], Any], httpx.Auth]  # (secrets, protocol)


RERANKERS: dict[str, RerankVendor] = {
    "qianfan": RerankVendor(
        wire.QianfanRerankProtocol,
        qianfan.CREDENTIALS,
        qianfan.BASE_URL_ENV,
        lambda secrets, protocol: qianfan.make_auth(secrets),
    ),
    "tencent": RerankVendor(
        wire.TencentRerankProtocol,
        tencent.CREDENTIALS,
        tencent.BASE_URL_ENV,
        lambda secrets, protocol: tencent.make_auth(secrets),
    ),
    "volcengine": RerankVendor(
        wire.VolcengineRerankProtocol,
        wire.VOLCENGINE_CREDENTIALS,
        wire.VOLCENGINE_BASE_URL_ENV,
        lambda secrets, protocol: wire.volcengine_auth(secrets, protocol.region),
    ),
}


def rerank_options_of(vendor: str) -> tuple[OptionSpec, ...]:
    """Every declared option of a vendor's rerank clients: its protocol's, then the client_options's."""
    return declared(RERANKERS[vendor].protocol) + declared(ClientOptions)


class VendorRerankClient(RerankClient):
    """A :class:`RerankClient` built from keyword options; unknown keywords are refused by name."""

    vendor: ClassVar[str]

    def __init__(
        self,
        model: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        http_async_client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        spec = RERANKERS[self.vendor]
        protocol, auth, client_options = from_keywords(
            type(self).__name__, spec.protocol, spec.credentials, spec.base_url_env, spec.make_auth, model, options
        )
        super().__init__(protocol, auth, http_client=http_client, http_async_client=http_async_client, **client_options)


class QianfanRerankClient(VendorRerankClient):
    """Baidu Qianfan ``/v2/rerank`` (bce-reranker-base) with a bearer API key."""

    vendor = "qianfan"

    if TYPE_CHECKING:  # the keywords, for type checkers; at run time the base class takes and checks them

        def __init__(
            self,
            model: str | None = None,
            *,
            http_client: httpx.Client | None = None,
            http_async_client: httpx.AsyncClient | None = None,
            **options: Unpack[QianfanRerankKeywords],
        ) -> None: ...


class TencentCloudRerankClient(VendorRerankClient):
    """Tencent Cloud ES ``RunRerank`` (bge-reranker-large, bge-reranker-v2-m3), TC3 signed."""

    vendor = "tencent"

    if TYPE_CHECKING:  # the keywords, for type checkers; at run time the base class takes and checks them

        def __init__(
            self,
            model: str | None = None,
            *,
            http_client: httpx.Client | None = None,
            http_async_client: httpx.AsyncClient | None = None,
            **options: Unpack[TencentRerankKeywords],
        ) -> None: ...


class VolcengineRerankClient(VendorRerankClient):
    """Volcengine VikingDB knowledge-base rerank, V4 signed with an access key pair."""

    vendor = "volcengine"

    if TYPE_CHECKING:  # the keywords, for type checkers; at run time the base class takes and checks them

        def __init__(
            self,
            model: str | None = None,
            *,
            http_client: httpx.Client | None = None,
            http_async_client: httpx.AsyncClient | None = None,
            **options: Unpack[VolcengineRerankKeywords],
        ) -> None: ...


RERANK_CLIENTS: dict[str, type[VendorRerankClient]] = {
    "qianfan": QianfanRerankClient,
    "tencent": TencentCloudRerankClient,
    "volcengine": VolcengineRerankClient,
}
for _vendor, _cls in RERANK_CLIENTS.items():
    _cls.__signature__ = keyword_signature(rerank_options_of(_vendor), RERANKERS[_vendor].credentials)  # type: ignore[attr-defined]
