"""The framework-free client: validate, plan, send with bounded concurrency, reassemble.

One ``EmbeddingClient`` wraps one vendor protocol (one model). It owns the
long-lived pieces, built once and reused on every call: the httpx clients
(connection reuse), the auth (its TC3 signing key is cached per day) and the
rate limiter shared by every thread and task using this client.
"""

from __future__ import annotations

import asyncio
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
        self.limiter = RateLimiter(rps if rps and rps > 0 else None)
        self.default_headers = {"User-Agent": USER_AGENT, **(default_headers or {})}
        self._http_client = http_client
        self._http_async_client = http_async_client
        self._owns_sync = http_client is None
        self._owns_async = http_async_client is None
        self._lock = threading.Lock()
        self._usage = UsageCounter()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vendor={self.protocol.vendor!r}, model={self.protocol.model!r})"

    @property
    def usage(self) -> Usage:
        """Everything this client has consumed so far (requests, retries, tokens, images)."""
        return self._usage.snapshot()

    # -- public API -----------------------------------------------------------------------

    def embed(self, inputs: Sequence[Any], *, default: Literal["text", "image"] = "text",
              progress: Callable[[int], None] | None = None) -> EmbeddingResult:
        """One vector per input, in order. Inputs: str, or {"text", "image", "video"} mappings."""
        items, batches = self._plan(inputs, default)
        if not batches:
            return EmbeddingResult([], Usage())
        client = self._sync_client()
        results = run_batches(
            batches,
            lambda batch: run_sync(self._flow([items[i] for i in batch]), client, self._auth,
                                   self.protocol.vendor),
            self.max_concurrency, progress)
        return self._assemble(len(items), batches, results)

    async def aembed(self, inputs: Sequence[Any], *, default: Literal["text", "image"] = "text",
                     progress: Callable[[int], None] | None = None) -> EmbeddingResult:
        items, batches = self._plan(inputs, default)
        if not batches:
            return EmbeddingResult([], Usage())
        client = self._async_client()
        results = await arun_batches(
            batches,
            lambda batch: run_async(self._flow([items[i] for i in batch]), client, self._auth,
                                    self.protocol.vendor),
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
        if self._owns_sync and self._http_client is not None:
            self._http_client.close()
            self._http_client = None

    async def aclose(self) -> None:
        if self._owns_async and self._http_async_client is not None:
            await self._http_async_client.aclose()
            self._http_async_client = None

    def __enter__(self) -> EmbeddingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> EmbeddingClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- internals ------------------------------------------------------------------------

    def _plan(self, inputs: Sequence[Any], default: Literal["text", "image"]) -> tuple[list[Item], list[list[int]]]:
        """Everything that can fail before a request fails here."""
        items = self.protocol.prepare(to_items(inputs, default=default), self.truncate)
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
                          self.policy, self.limiter)

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
        self._usage.add(usage)
        return EmbeddingResult(vectors, usage, sparse)

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(max_connections=max(self.max_concurrency, 10),
                            max_keepalive_connections=max(self.max_concurrency, 10))

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._http_client is None:
                self._http_client = httpx.Client(timeout=self.timeout, limits=self._limits())
            return self._http_client

    def _async_client(self) -> httpx.AsyncClient:
        # An AsyncClient is bound to the loop it first ran on; make a new one for a new loop.
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._http_async_client is None or (self._owns_async and getattr(self, "_loop", None) is not loop):
                self._http_async_client = httpx.AsyncClient(timeout=self.timeout, limits=self._limits())
                self._loop = loop
            return self._http_async_client
