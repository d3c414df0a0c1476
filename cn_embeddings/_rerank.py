"""The framework-free rerank client: check, split into requests, send, merge into one ranking.

It runs on the same :class:`~cn_embeddings._core.CallCore` as the embedding
client: the same retry flow, rate controller (one per quota), sender,
deadlines, redaction, connections and typed errors. Documents beyond what one request takes are split into
consecutive requests sent concurrently; every request asks for all its scores,
so the scores merge into one global ranking, best first (ties in input order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from . import _telemetry as telemetry
from ._batching import Outcome
from ._connections import Connections
from ._core import CallCore, options_from
from ._exceptions import CallRecord, InvalidInputError
from ._flow import Cancel, Flow
from ._options import ClientOptions
from ._types import Ranked, RerankBatch, RerankResult, Usage, UsageCounter
from .vendors.rerank import RerankProtocol

__all__ = ["RerankClient"]


class RerankClient(CallCore):
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
        connections = Connections(options, http_client, http_async_client)
        probe = lambda: protocol.build_request("q", ["d"])  # noqa: E731
        self._configure_core(protocol, auth, options, UsageCounter(), connections, "rerank", probe)
        self.protocol: RerankProtocol = protocol

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vendor={self.protocol.vendor!r}, model={self.protocol.model!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "auth": self._auth, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._configure(state["protocol"], state["auth"], state["options"], None, None)

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
            outcome = self._run(
                batches, lambda batch, headers: self._rerank_flow(query, documents, batch, headers), cancel=cancel
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
            outcome = await self._arun(
                batches, lambda batch, headers: self._rerank_flow(query, documents, batch, headers), cancel=cancel
            )
            return self._finish(len(documents), outcome, top_n, call)

    # -- internals ----------------------------------------------------------------------------

    def _plan(self, query: str, documents: Sequence[str], top_n: int | None) -> list[list[int]]:
        """Everything that can fail before a request fails here; the batches of document indices."""
        if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
            raise InvalidInputError(f"top_n must be a positive integer or None, got {top_n!r}", rule="top-n")
        self.protocol.check(query, documents)
        for index, text in enumerate([query, *documents]):  # a lone surrogate cannot be sent as UTF-8
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:
                what = "the query" if index == 0 else "the document"
                raise InvalidInputError(
                    f"{what} cannot be sent as UTF-8 (a lone surrogate at position {error.start})",
                    index=None if index == 0 else index - 1,
                    rule="utf-8",
                ) from None
        size = self.batch_size
        return [list(range(start, min(start + size, len(documents)))) for start in range(0, len(documents), size)]

    def _rerank_flow(
        self, query: str, documents: Sequence[str], batch: list[int], user_headers: httpx.Headers | None
    ) -> Flow[RerankBatch]:
        chunk = [documents[i] for i in batch]
        return self._flow(
            lambda: self.protocol.build_request(query, chunk),
            lambda response: self.protocol.parse_response(response, len(chunk)),
            self.protocol.token_estimate(query, chunk),
            user_headers,
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
