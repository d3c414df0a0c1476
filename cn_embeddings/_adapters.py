"""Support for the framework adapters: their pydantic fields and their core clients.

Not part of ``cn_embeddings``' API, and imported only by the adapters (it
imports pydantic). The fields themselves are written out in
:mod:`cn_embeddings._settings`, so that type checkers see them; they are read
back here through the declarations (:func:`cn_embeddings.clients.options_of`,
``credentials_of``), which a test holds equal to the fields.

The core clients behind an adapter object are built from its fields and
rebuilt after a field changes (by assignment, or ``model_copy(update=...)``,
whose copy builds its own), so what the object says is what it sends. They live in an :class:`_Runtime`
that copies, deep copies and pickles leave behind: a copy in another process
builds its own connections and rejoins that process's shared quota.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, PrivateAttr, model_validator

from ._client import EmbeddingClient
from ._connections import Closeable
from ._exceptions import ConfigurationError
from ._options import Credential, OptionSpec
from ._rerank import RerankClient
from ._space import Space
from ._types import Usage
from .clients import CLIENTS, credentials_of, options_of

__all__ = ["AdapterMixin", "EmbeddingClients", "RerankClients", "registry"]


def registry(
    kind: str,
) -> tuple[Callable[[str], tuple[OptionSpec, ...]], Callable[[str], tuple[Credential, ...]], dict[str, Any]]:
    """(options of a vendor, its credentials, its core client classes) for ``kind``: the
    ``embeddings`` clients or the ``rerank`` clients."""
    if kind == "rerank":
        from .rerankers import RERANK_CLIENTS, RERANKERS, rerank_options_of

        return rerank_options_of, lambda vendor: RERANKERS[vendor].credentials, RERANK_CLIENTS
    return options_of, credentials_of, CLIENTS


class _Runtime:
    """The core clients of one adapter object, built from its fields when first needed and again
    after a field changed (``stale``).

    Never copied or pickled: a copy gets a fresh one and builds its own clients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stale = True
        self.http: tuple[int, int] = (0, 0)  # the ids of the httpx clients the core clients were built on
        self.client: EmbeddingClient | None = None
        self.query: EmbeddingClient | None = None
        self.retired = Usage()  # what clients replaced after a configuration change consumed

    def __reduce__(self) -> tuple[Any, ...]:
        return _Runtime, ()

    def __deepcopy__(self, memo: dict[str, Any]) -> _Runtime:
        return _Runtime()


# OpenAI's spellings (langchain-openai, LlamaIndex) of options that have another name here
PORTED = {
    "chunk_size": "batch_size",
    "request_timeout": "timeout",
    "api_base": "base_url",
    "openai_api_base": "base_url",
}


class AdapterMixin(Closeable, BaseModel):
    """Core clients, usage, closing, copying and pickling for both frameworks' classes."""

    vendor: ClassVar[str]
    kind: ClassVar[str] = "embeddings"  # or "rerank"
    model_field: ClassVar[str] = "model"
    http_fields: ClassVar[tuple[str, str]] = ("http_client", "http_async_client")
    _runtime: _Runtime = PrivateAttr(default_factory=_Runtime)

    @model_validator(mode="before")
    @classmethod
    def _refuse_ported_spellings(cls, data: Any) -> Any:
        """The spellings of ``OpenAIEmbeddings`` and LlamaIndex's ``OpenAIEmbedding`` that mean one
        of our options are refused naming ours (pydantic said only "Extra inputs are not permitted")."""
        if isinstance(data, dict):  # ConfigurationError, not ValueError: pydantic would print every input, keys too
            for ported, ours in PORTED.items():
                if ported in data and ported not in cls.model_fields:
                    raise ConfigurationError(f"{ported}= is spelt {ours}= here ({ported} is OpenAI's name for it)")
        return data

    def __copy__(self) -> Any:
        """A shallow copy (``model_copy``) with a runtime of its own: it builds its own clients."""
        copy = super().__copy__()
        copy._runtime = _Runtime()
        return copy

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if not name.startswith("_"):
            self._runtime.stale = True  # the next call builds clients from the fields as they are now

    @model_validator(mode="before")
    @classmethod
    def _credentials_from_aliases_and_environment(cls, data: Any) -> Any:
        """A credential given under one of its aliases takes its own name; one not given at all is
        read from its environment variable (when set), as the official SDKs do."""
        if not isinstance(data, dict) or not hasattr(cls, "vendor"):
            return data
        data = dict(data)
        for cred in registry(cls.kind)[1](cls.vendor):
            for alias in cred.aliases:
                if alias in data:
                    if cred.name in data:
                        raise ConfigurationError(f"{cred.name} is given twice (also as {alias}); give it once")
                    data[cred.name] = data.pop(alias)
            if cred.name not in data and os.environ.get(cred.env):
                data[cred.name] = os.environ[cred.env]
        return data

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments of the core client, read from the fields."""
        option_specs, credentials, _ = registry(self.kind)
        options: dict[str, Any] = {}
        for spec in option_specs(self.vendor):
            value = getattr(self, self.model_field if spec.name == "model" else spec.name)
            options[spec.name] = dict(value) if isinstance(value, dict) else value
        for cred in credentials(self.vendor):
            options[cred.name] = getattr(self, cred.name)
        return options

    def _clients(self) -> tuple[Any, Any]:
        """The core clients for the current fields (documents, queries), rebuilt when a field changed:
        :class:`EmbeddingClient` or, for ``kind = "rerank"``, :class:`RerankClient`."""
        runtime = self._runtime
        with runtime.lock:
            if runtime.stale:
                sync_http, async_http = (getattr(self, name) for name in self.http_fields)
                client = registry(self.kind)[2][self.vendor](
                    http_client=sync_http, http_async_client=async_http, **self.client_options()
                )
                old, runtime.client, runtime.query = runtime.client, client, client.for_queries()
                client.gate = runtime.query.gate = self._gate()
                runtime.stale = False
                if old is not None:
                    runtime.retired.add(old.usage)
                    old.close()
            assert runtime.client is not None and runtime.query is not None
            return runtime.client, runtime.query

    def _gate(self) -> Any:
        """A rate limiter of the caller's that each request asks first (LlamaIndex's; none here)."""
        return None

    @property
    def usage(self) -> Usage:
        """Tokens, images, requests and retries as the vendor reported them, failed calls included."""
        client = self._clients()[0]
        total = Usage()
        total.add(self._runtime.retired)
        total.add(client.usage)
        return total

    def close(self) -> None:
        """Close the connections this object owns (in every event loop it used)."""
        if self._runtime.client is not None:
            self._runtime.client.close()

    async def aclose(self) -> None:
        if self._runtime.client is not None:
            await self._runtime.client.aclose()

    # -- copies: a user-supplied httpx client is shared by deep copies and left out of pickles --

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        memo = {} if memo is None else memo
        for name in self.http_fields:
            value = getattr(self, name)
            memo[id(value)] = value
        return super().__deepcopy__(memo)

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__dict__"] = {**state["__dict__"], **dict.fromkeys(self.http_fields)}
        return state


class EmbeddingClients:
    """The typed core clients of an embeddings class (both frameworks)."""

    _clients: Callable[[], tuple[Any, Any]]

    @property
    def client(self) -> EmbeddingClient:
        """The framework-free core client for the current configuration."""
        client: EmbeddingClient = self._clients()[0]
        return client

    @property
    def space(self) -> Space:
        """The embedding space of the vectors (``space.id``, ``space.describe()``): what an index
        of them records, and what the cache keys them by; queries share it."""
        return self.client.space

    @property
    def query_client(self) -> EmbeddingClient:
        """The same, for queries (Ark's ``query_instructions``)."""
        client: EmbeddingClient = self._clients()[1]
        return client


class RerankClients:
    """The typed core client of a rerank class (both frameworks)."""

    _clients: Callable[[], tuple[Any, Any]]

    @property
    def client(self) -> RerankClient:
        """The framework-free core rerank client for the current configuration."""
        client: RerankClient = self._clients()[0]
        return client


def dense_for_sparse(package: str, dense: Any, fields: dict[str, Any]) -> Any:
    """The dense object a sparse one answers from (both frameworks' sparse classes): the one given,
    or ``package``'s Ark embeddings class built from ``fields`` with ``sparse=True``. The class is
    found among the adapter classes defined so far (Python's own record of subclasses), so a sparse
    module needs not import the embeddings module that imports it."""
    cls = _adapter_class(package, "embeddings", "ark")
    if dense is None:
        dense = cls(**{"sparse": True, **fields})
    elif fields:
        raise ConfigurationError(f"give either dense={cls.__name__}(...) or the fields of one, not both")
    if not dense.sparse:
        raise ConfigurationError(f"the dense {cls.__name__} must be built with sparse=True")
    return dense


def _adapter_class(package: str, kind: str, vendor: str) -> type[AdapterMixin]:
    pending = list(AdapterMixin.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__dict__.get("vendor") == vendor and cls.kind == kind and cls.__module__.split(".")[0] == package:
            return cls
    raise LookupError(f"no {vendor} {kind} class in {package}")  # pragma: no cover - the package imports it
