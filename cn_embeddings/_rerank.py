"""The framework-free rerank client: check, split into requests, send, merge into one ranking.

It runs on the embedding client's options core: the same retry flow, rate
controller (one per quota), sender, deadlines, redaction, connections and
typed errors. Documents beyond what one request takes are split into
consecutive requests sent concurrently; every request asks for all its scores,
so the scores merge into one global ranking, best first (ties in input order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from . import _telemetry as telemetry
from ._batching import Outcome, arun_batches, run_batches
from ._client import (
    check_extra_body,
    default_headers,
    labels_of,
    make_controller,
    options_from,
    quota_key,
    with_defaults,
)
from ._connections import Closeable, Connections
from ._exceptions import CallRecord, InvalidInputError
from ._flow import Cancel, Flow, Sender, batch_flow, run_async, run_sync
from ._options import ClientOptions
from ._retry import RetryPolicy
from ._secret import Redactor
from ._types import Ranked, RerankBatch, RerankResult, Usage, UsageCounter
from .vendors.rerank import RerankProtocol

__all__ = ["RerankClient"]


class RerankClient(Closeable):
    """Reranks documents for a query with one vendor model: :meth:`rerank` and :meth:`arerank`."""

    vendor: ClassVar[str] = ""

    def __init__(
        self,
        protocol: RerankProtocol,
        auth: httpx.Auth,
        *,
        http_client: httpx.Client | None = None,
        http_async_client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        self._configure(protocol, auth, options_from(options), http_client, http_async_client)

    def _configure(
        self,
        protocol: RerankProtocol,
        auth: httpx.Auth,
        options: ClientOptions,
        http_client: httpx.Client | None,
        http_async_client: httpx.AsyncClient | None,
    ) -> None:
        self.protocol = protocol
        self._auth = auth
        self.options = options
        self.policy = RetryPolicy(max_retries=options.max_retries, zero_waits=options.zero_waits)
        self.default_headers = default_headers(options)
        self.batch_size = protocol.batch_size(options.batch_size)
        self._usage = UsageCounter()
        self._connections = Connections(options, http_client, http_async_client)
        self._redactor = Redactor(getattr(auth, "secret_values", tuple)())
        self.labels = labels_of("rerank", protocol.vendor, protocol.model, protocol.url)
        key = quota_key(protocol.vendor, protocol.url, auth, protocol.model)
        self._controller = make_controller(key, protocol.quota, options)
        if options.extra_body:
            check_extra_body(options.extra_body, protocol.build_request("q", ["d"]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vendor={self.protocol.vendor!r}, model={self.protocol.model!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "auth": self._auth, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._configure(state["protocol"], state["auth"], state["options"], None, None)

    @property
    def usage(self) -> Usage:
        """Everything this client consumed so far, failed calls included."""
        return self._usage.snapshot()

    @property
    def max_concurrency(self) -> int:
        return self.options.max_concurrency

    def for_queries(self) -> RerankClient:
        return self

    # -- public API ---------------------------------------------------------------------------

    def rerank(
        self, query: str, documents: Sequence[str], top_n: int | None = None, *, cancel: Cancel | None = None
    ) -> RerankResult:
        """The documents' indices and relevance scores, best first: ``top_n`` of them (None: all).

        Bad input is refused before any request (InvalidInputError naming the item and the rule);
        no documents give an empty ranking without a request."""
        with telemetry.operation(self.labels) as call:
            batches = self._plan(query, documents, top_n)
            call.set("cn_embeddings.inputs", len(documents))
            if not batches:
                return RerankResult([], Usage())
            sender, headers = self._sender(self._connections.sync_client(), not self._connections.owns_sync)
            outcome = run_batches(
                batches,
                lambda batch, cancel: run_sync(
                    self._flow(query, documents, batch, headers), sender, self._controller, cancel
                ),
                self.max_concurrency,
                cancel=cancel,
                known=len(batches),
            )
            return self._finish(len(documents), outcome, top_n, call)

    async def arerank(
        self, query: str, documents: Sequence[str], top_n: int | None = None, *, cancel: Cancel | None = None
    ) -> RerankResult:
        """The same as :meth:`rerank`, on the running event loop."""
        with telemetry.operation(self.labels) as call:
            batches = self._plan(query, documents, top_n)
            call.set("cn_embeddings.inputs", len(documents))
            if not batches:
                return RerankResult([], Usage())
            sender, headers = self._sender(
                await self._connections.async_client(), self._connections.user_async_client is not None
            )
            outcome = await arun_batches(
                batches,
                lambda batch, cancel: run_async(
                    self._flow(query, documents, batch, headers), sender, self._controller, cancel
                ),
                self.max_concurrency,
                cancel=cancel,
                known=len(batches),
            )
            return self._finish(len(documents), outcome, top_n, call)

    def close(self) -> None:
        self._connections.close()

    async def aclose(self) -> None:
        await self._connections.aclose()

    # -- internals ----------------------------------------------------------------------------

    def _plan(self, query: str, documents: Sequence[str], top_n: int | None) -> list[list[int]]:
        """Everything that can fail before a request fails here; the batches of document indices."""
        if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
            raise InvalidInputError(f"top_n must be a positive integer or None, got {top_n!r}", rule="top-n")
        self.protocol.check(query, documents)
        size = self.batch_size
        return [list(range(start, min(start + size, len(documents)))) for start in range(0, len(documents), size)]

    def _sender(self, client: httpx.Client | httpx.AsyncClient, users: bool) -> tuple[Sender, httpx.Headers | None]:
        return Sender(client, self._auth, self.labels, self._redactor), client.headers if users else None

    def _flow(
        self, query: str, documents: Sequence[str], batch: list[int], user_headers: httpx.Headers | None
    ) -> Flow[RerankBatch]:
        chunk = [documents[i] for i in batch]
        timeout = self.options.timeout
        return batch_flow(
            lambda: with_defaults(
                self.protocol.build_request(query, chunk),
                self.default_headers,
                user_headers,
                timeout,
                self.options.extra_body,
            ),
            lambda response: self.protocol.parse_response(response, len(chunk)),
            self.policy,
            self._redactor,
            timeout,
            self.protocol.token_estimate(query, chunk),
            controlled=self._controller.adaptive,
        )

    def _finish(
        self, count: int, outcome: Outcome[list[int], RerankBatch], top_n: int | None, call: telemetry.Operation
    ) -> RerankResult:
        """One ranking from every batch's scores; or raise with the record of what was scored."""
        usage = Usage()
        scores: list[float | None] = [None] * count
        for position, result in outcome.results.items():
            usage.add(result.usage)
            for index, score in zip(outcome.batches[position], result.scores, strict=True):
                scores[index] = score
        failure = outcome.failure
        if failure is not None:
            usage.add(failure.billed)
            self._usage.add(usage)
            failure.raise_with(
                CallRecord(
                    [i for i, s in enumerate(scores) if s is not None],
                    [i for i, s in enumerate(scores) if s is None],
                    outcome.batches[failure.index] if failure.index is not None else [],
                ),
                self.labels,
            )
        self._usage.add(usage)
        call.finished(usage.prompt_tokens or usage.total_tokens)
        ranking = sorted(range(count), key=lambda i: (-scores[i], i))  # type: ignore[operator]
        return RerankResult([Ranked(i, scores[i]) for i in ranking[:top_n]], usage)  # type: ignore[arg-type]
