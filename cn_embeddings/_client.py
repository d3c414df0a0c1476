"""The framework-free client: validate, plan, send with bounded concurrency, reassemble.

One ``EmbeddingClient`` wraps one vendor protocol (one model). It owns the
long-lived pieces, built once and reused on every call: the httpx clients
(connection reuse), the auth (its TC3 signing key is cached per day) and the
rate limiter shared by every thread and task using this client.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import httpx

from ._batching import arun_batches, run_batches
from ._exceptions import ConfigurationError
from ._flow import batch_flow, run_async, run_sync
from ._inputs import Item, to_items
from ._limits import RateLimiter
from ._retry import RetryPolicy
from ._types import BatchResult, EmbeddingResult, Usage, UsageCounter
from .vendors._base import VendorProtocol, plan_batches

__all__ = ["EmbeddingClient"]

USER_AGENT = "cn-embeddings/0.1"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_MAX_RETRIES = 3


class _Shared:
    """What a client and its variants share: connections, limiter, usage, in-flight gates.

    The gates bound the requests in flight across every call on the client,
    so a framework that gathers many calls at once still sends at most
    ``max_concurrency`` requests.
    """

    def __init__(self, http_client: httpx.Client | None, http_async_client: httpx.AsyncClient | None,
                 limiter: RateLimiter, max_concurrency: int, timeout: float | None) -> None:
        self.http_client = http_client
        self.http_async_client = http_async_client
        self.owns_sync = http_client is None
        self.owns_async = http_async_client is None
        self.limiter = limiter
        self.usage = UsageCounter()
        self.lock = threading.Lock()
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.gate = threading.BoundedSemaphore(max_concurrency)
        self.async_gates: dict[asyncio.AbstractEventLoop, tuple[asyncio.Semaphore, httpx.AsyncClient | None]] = {}

    def limits(self) -> httpx.Limits:
        size = max(self.max_concurrency, 10)
        return httpx.Limits(max_connections=size, max_keepalive_connections=size)

    def sync_client(self) -> httpx.Client:
        with self.lock:
            if self.http_client is None:
                self.http_client = httpx.Client(timeout=self.timeout, limits=self.limits())
            return self.http_client

    def async_client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """An AsyncClient and a gate for the running loop (both are bound to the loop they run on)."""
        loop = asyncio.get_running_loop()
        with self.lock:
            if loop not in self.async_gates:
                # Drop entries of loops that are gone (each asyncio.run makes a new one).
                for old in [lp for lp in self.async_gates if lp.is_closed()]:
                    del self.async_gates[old]
                own = None if not self.owns_async else httpx.AsyncClient(timeout=self.timeout, limits=self.limits())
                self.async_gates[loop] = (asyncio.Semaphore(self.max_concurrency), own)
            gate, own = self.async_gates[loop]
            client = own if own is not None else self.http_async_client
            assert client is not None
            return client, gate

    def close(self) -> None:
        if self.owns_sync and self.http_client is not None:
            self.http_client.close()
            self.http_client = None

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        entry = self.async_gates.pop(loop, None)
        if entry and entry[1] is not None:
            await entry[1].aclose()


class EmbeddingClient:
    """Embeds texts, images, videos and fused items with one vendor model.

    ``requests_per_second``: None takes the vendor's documented quota (Tencent:
    10/s multimodal, 20/s text per model; none for the others); 0 or less
    turns the client-side limiter off.
    """

    def __init__(
        self,
        protocol: VendorProtocol,
        auth: httpx.Auth,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        requests_per_second: float | None = None,
        batch_size: int | None = None,
        truncate: bool = False,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        http_async_client: httpx.AsyncClient | None = None,
        zero_waits: bool = False,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if max_retries < 0:
            raise ConfigurationError(f"max_retries must be 0 or more, got {max_retries}")
        self.protocol = protocol
        self._auth = auth
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.batch_size = protocol.batch_size(batch_size)
        self.truncate = truncate
        self.policy = RetryPolicy(max_retries=max_retries, zero_waits=zero_waits)
        rps = protocol.default_requests_per_second if requests_per_second is None else requests_per_second
        self.default_headers = {"User-Agent": USER_AGENT, **(default_headers or {})}
        self._shared = _Shared(http_client, http_async_client, RateLimiter(rps if rps and rps > 0 else None),
                               max_concurrency, timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vendor={self.protocol.vendor!r}, model={self.protocol.model!r})"

    @property
    def limiter(self) -> RateLimiter:
        return self._shared.limiter

    @property
    def usage(self) -> Usage:
        """Everything this client (and its variants) consumed so far: requests, retries, tokens, images."""
        return self._shared.usage.snapshot()

    def variant(self, **protocol_changes: Any) -> EmbeddingClient:
        """The same client with other protocol options (for example Ark query ``instructions``),
        sharing connections, limiter, usage and the in-flight bound."""
        twin = copy.copy(self)
        twin.protocol = dataclasses.replace(self.protocol, **protocol_changes)  # type: ignore[type-var]
        return twin

    @property
    def multimodal(self) -> bool:
        return self.protocol.api == "multimodal"  # type: ignore[attr-defined]

    def require_multimodal(self, method: str) -> None:
        """Fail early and clearly when a text-only model is asked for media."""
        if not self.multimodal:
            raise ConfigurationError(f"{self.protocol.model} is a text-only {self.protocol.vendor} model; "
                                     f"{method} needs a multimodal model")

    # -- public API -----------------------------------------------------------------------

    def embed(self, inputs: Sequence[Any], *, default: Literal["text", "image"] = "text",
              progress: Callable[[int], None] | None = None) -> EmbeddingResult:
        """One vector per input, in order. Inputs: str, or {"text", "image", "video"} mappings."""
        items, batches = self._plan(inputs, default)
        if not batches:
            return EmbeddingResult([], Usage())
        client, shared = self._shared.sync_client(), self._shared
        results = run_batches(
            batches,
            lambda batch: run_sync(self._flow([items[i] for i in batch]), client, self._auth,
                                   self.protocol.vendor, shared.gate),
            self.max_concurrency, progress)
        return self._assemble(len(items), batches, results)

    async def aembed(self, inputs: Sequence[Any], *, default: Literal["text", "image"] = "text",
                     progress: Callable[[int], None] | None = None) -> EmbeddingResult:
        items, batches = self._plan(inputs, default)
        if not batches:
            return EmbeddingResult([], Usage())
        client, gate = self._shared.async_client()
        results = await arun_batches(
            batches,
            lambda batch: run_async(self._flow([items[i] for i in batch]), client, self._auth,
                                    self.protocol.vendor, gate),
            self.max_concurrency, progress)
        return self._assemble(len(items), batches, results)

    def embed_texts(self, texts: Sequence[str], **kwargs: Any) -> list[list[float]]:
        return self.embed(texts, **kwargs).vectors

    async def aembed_texts(self, texts: Sequence[str], **kwargs: Any) -> list[list[float]]:
        return (await self.aembed(texts, **kwargs)).vectors

    def embed_images(self, images: Sequence[Any], **kwargs: Any) -> list[list[float]]:
        """Images as paths, bytes, file objects, http(s) URLs or data URIs."""
        return self.embed(images, default="image", **kwargs).vectors

    async def aembed_images(self, images: Sequence[Any], **kwargs: Any) -> list[list[float]]:
        return (await self.aembed(images, default="image", **kwargs)).vectors

    def close(self) -> None:
        self._shared.close()

    async def aclose(self) -> None:
        await self._shared.aclose()

    def __enter__(self) -> EmbeddingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> EmbeddingClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- internals ------------------------------------------------------------------------

    def validate(self, inputs: Sequence[Any], *, default: Literal["text", "image"] = "text") -> list[Item]:
        """Check inputs against every rule without sending anything (raises InvalidInputError).

        For callers that split a call into pieces themselves (LlamaIndex batches), so that
        input 500 is reported as input 500 before input 0 is sent."""
        return self.protocol.prepare(to_items(inputs, default=default), self.truncate)

    def _plan(self, inputs: Sequence[Any], default: Literal["text", "image"]) -> tuple[list[Item], list[list[int]]]:
        """Everything that can fail before a request fails here."""
        items = self.validate(inputs, default=default)
        return items, plan_batches(self.protocol, items, self.batch_size)

    def _flow(self, items: list[Item]):
        def build() -> httpx.Request:
            request = self.protocol.build_request(items)
            for name, value in self.default_headers.items():
                request.headers.setdefault(name, value)
            if self.timeout is not None:
                request.extensions["timeout"] = httpx.Timeout(self.timeout).as_dict()
            return request

        return batch_flow(build, lambda response: self.protocol.parse_response(response, items),
                          self.policy, self._shared.limiter, getattr(self._auth, "secret_values", tuple)())

    def _assemble(self, n: int, batches: list[list[int]], results: list[BatchResult]) -> EmbeddingResult:
        vectors: list[list[float]] = [[] for _ in range(n)]
        sparse: list | None = [None] * n if any(r.sparse is not None for r in results) else None
        usage = Usage()
        for batch, result in zip(batches, results, strict=True):
            usage.add(result.usage)
            for position, index in enumerate(batch):
                vectors[index] = result.vectors[position]
                if sparse is not None and result.sparse is not None:
                    sparse[index] = result.sparse[position]
        self._shared.usage.add(usage)
        return EmbeddingResult(vectors, usage, sparse)
