"""Support for the framework adapters: their pydantic fields and their core clients.

Not part of ``cn_embeddings``' API, and imported only by the adapters (it
imports pydantic). Both adapters' fields are generated from the declarations
(:func:`cn_embeddings.clients.options_of`, ``credentials_of``), so an option
added to a vendor protocol appears in LangChain, LlamaIndex, ``init_embeddings``
and the CLI at once, with one name, one default and one help text.

The core clients behind an adapter object are built from its fields and
rebuilt whenever a field changes (by assignment or ``model_copy(update=...)``),
so what the object says is what it sends. They live in an :class:`_Runtime`
that copies, deep copies and pickles leave behind: a copy in another process
builds its own connections and rejoins that process's shared quota.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, create_model

from ._client import Closeable, EmbeddingClient
from ._exceptions import ConfigurationError
from ._options import Credential, OptionSpec
from ._types import Usage
from .clients import CLIENTS, credentials_of, options_of

__all__ = ["AdapterMixin", "settings_model"]


def _from_env(env: str) -> Callable[[], SecretStr | None]:
    def read() -> SecretStr | None:
        value = os.environ.get(env)
        return SecretStr(value) if value else None

    return read


class _Settings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, protected_namespaces=(), extra="forbid")


def registry(kind: str) -> tuple[Callable[[str], tuple[OptionSpec, ...]], Callable[[str], tuple[Credential, ...]],
                                   dict[str, Any]]:
    """(options of a vendor, its credentials, its core client classes) for ``kind``: the
    ``embeddings`` clients or the ``rerank`` clients."""
    if kind == "rerank":
        from .rerankers import RERANK_CLIENTS, RERANKERS, rerank_options_of

        return rerank_options_of, lambda vendor: RERANKERS[vendor].credentials, RERANK_CLIENTS
    return options_of, credentials_of, CLIENTS


def settings_model(vendor: str, *, model_field: str, exclude_secrets: bool, kind: str = "embeddings"
                   ) -> type[BaseModel]:
    """A pydantic mixin with one field per declared option and credential of ``vendor``.

    ``model_field`` is the framework's name for the model (LangChain ``model``, LlamaIndex
    ``model_name``, which also accepts ``model``). Credentials are ``SecretStr`` fields filled
    from their environment variables and accept the SDK-style aliases."""
    options, credentials, _ = registry(kind)
    fields: dict[str, Any] = {}
    for spec in options(vendor):
        name = model_field if spec.name == "model" else spec.name
        names = tuple(dict.fromkeys((name, spec.name, *spec.aliases)))
        default: dict[str, Any] = ({"default_factory": type(spec.default)} if isinstance(spec.default, dict)
                                   else {"default": spec.default})
        alias = AliasChoices(*names) if len(names) > 1 else None
        fields[name] = (spec.type, Field(**default, description=spec.help, validation_alias=alias))
    for cred in credentials(vendor):
        fields[cred.name] = (SecretStr | None, Field(
            default_factory=_from_env(cred.env), validation_alias=AliasChoices(cred.name, *cred.aliases),
            exclude=exclude_secrets, repr=False, description=f"The {cred.what}; defaults to ${cred.env}."))
    return create_model(f"{vendor.capitalize()}{kind.capitalize()}Settings", __base__=_Settings, **fields)


class _Runtime:
    """The core clients of one adapter object, keyed by the configuration they were built from.

    Never copied or pickled: a copy gets a fresh one and builds its own clients."""

    def __init__(self, owner: int) -> None:
        self.owner = owner
        self.lock = threading.Lock()
        self.key: Any = None
        self.client: EmbeddingClient | None = None
        self.query: EmbeddingClient | None = None
        self.retired = Usage()  # what clients replaced after a configuration change consumed

    def __reduce__(self) -> tuple:
        return _Runtime, (0,)

    def __deepcopy__(self, memo: dict) -> _Runtime:
        return _Runtime(0)


_NEW_RUNTIME = threading.Lock()  # two threads' first calls on one object build one runtime


class AdapterMixin(Closeable, BaseModel):
    """Core clients, usage, closing, copying and pickling for both frameworks' classes."""

    vendor: ClassVar[str]
    kind: ClassVar[str] = "embeddings"  # or "rerank"
    model_field: ClassVar[str] = "model"
    http_fields: ClassVar[tuple[str, str]] = ("http_client", "http_async_client")
    _runtime: _Runtime | None = PrivateAttr(default=None)

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

    def _clients(self) -> tuple[EmbeddingClient, EmbeddingClient]:
        """The document and query clients for the current fields, rebuilt when a field changed."""
        runtime = self._runtime
        if runtime is None or runtime.owner != id(self):  # first use, or a copy carrying the original's runtime
            with _NEW_RUNTIME:
                runtime = self._runtime
                if runtime is None or runtime.owner != id(self):
                    runtime = _Runtime(id(self))
                    self._runtime = runtime  # pydantic keeps it in this object's own private dict
        options = self.client_options()
        sync_http, async_http = (getattr(self, name) for name in self.http_fields)
        key = (options, id(sync_http), id(async_http))
        with runtime.lock:
            if runtime.client is None or runtime.key != key:
                client = registry(self.kind)[2][self.vendor](http_client=sync_http, http_async_client=async_http,
                                                             **options)
                old, runtime.client, runtime.query, runtime.key = runtime.client, client, client.for_queries(), key
                if old is not None:
                    runtime.retired.add(old.usage)
                    old.close()
            assert runtime.query is not None
            return runtime.client, runtime.query

    @property
    def client(self) -> EmbeddingClient:
        """The framework-free core client for the current configuration."""
        return self._clients()[0]

    @property
    def query_client(self) -> EmbeddingClient:
        return self._clients()[1]

    @property
    def usage(self) -> Usage:
        """Tokens, images, requests and retries as the vendor reported them, failed calls included."""
        client = self._clients()[0]
        assert self._runtime is not None
        total = Usage()
        total.add(self._runtime.retired)
        total.add(client.usage)
        return total

    def close(self) -> None:
        """Close the connections this object owns (in every event loop it used)."""
        if self._runtime is not None and self._runtime.client is not None:
            self._runtime.client.close()

    async def aclose(self) -> None:
        if self._runtime is not None and self._runtime.client is not None:
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


def dense_for_sparse(cls: type, dense: Any, fields: dict[str, Any]) -> Any:
    """The dense object a sparse one answers from: the one given, or one of ``cls`` built from
    ``fields`` with ``sparse=True`` (both frameworks' sparse classes)."""
    if dense is None:
        dense = cls(**{"sparse": True, **fields})
    elif fields:
        raise ConfigurationError(f"give either dense={cls.__name__}(...) or the fields of one, not both")
    if not dense.sparse:
        raise ConfigurationError(f"the dense {cls.__name__} must be built with sparse=True")
    return dense
