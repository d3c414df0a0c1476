"""The framework-free client: validate, plan, send with bounded concurrency, reassemble.

One ``EmbeddingClient`` wraps one vendor protocol (one model). Its state is
configuration only (the protocol, the auth, the client options, the usage
counter), so it pickles and deep-copies: connections, locks, gates and event
loops live in a :class:`Connections` that is built on first use and never
shipped, so a copy in another process builds its own. The rate controller
comes from a process-wide registry (one per vendor, host, account and model),
so a copy rejoins the quota of its new process; it also bounds the requests
in flight across every call, thread and event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Literal

import httpx

from . import _longtext
from . import _telemetry as telemetry
from ._batching import Outcome, failure_of, plan_batches
from ._cache import Guarded, scope_of, shared_cache
from ._cache._reuse import Reuse
from ._connections import Connections
from ._core import CallCore, options_from, quota_key
from ._exceptions import ConfigurationError
from ._flow import Cancel, Flow, run_sync
from ._inputs import Item, Prepared, to_items
from ._options import ClientOptions
from ._progress import ProgressCallback, reporting
from ._results import Answers
from ._space import Space, space_of
from ._sparse import SparseCache, SparseReuse
from ._types import BatchResult, EmbeddingResult, Usage, UsageCounter
from .vendors._base import VendorProtocol

__all__ = ["EmbeddingClient"]


class EmbeddingClient(SparseReuse, CallCore):
    """Embeds texts, images, videos and fused items with one vendor model.

    ``requests_per_second`` and ``tokens_per_minute``: None takes the model's
    documented quota from its vendor table (Tencent: 10/s multimodal, 20/s text
    per model; Ark: the published RPM/TPM as upper bounds; none for Qianfan),
    and a quota nobody documents is found at run time; 0 turns rate control off.
    Clients of the same vendor, host, account and model (and settings) share
    one rate controller in the process.
    """

    def __init__(
        self,
        protocol: VendorProtocol,
        auth: httpx.Auth,
        *,
        http_client: httpx.Client | None = None,
        http_async_client: httpx.AsyncClient | None = None,
        **given: Any,
    ) -> None:
        options = options_from(given)
        self._configure(protocol, auth, options, UsageCounter(), Connections(options, http_client, http_async_client))

    def _configure(
        self,
        protocol: VendorProtocol,
        auth: httpx.Auth,
        options: ClientOptions,
        usage: UsageCounter,
        connections: Connections | None,
        sparse: SparseCache | None = None,
        role: str = "document",
    ) -> None:
        connections = connections or Connections(options, None, None)
        probe = lambda: protocol.build_request(to_items(["x"]))  # noqa: E731
        self._configure_core(protocol, auth, options, usage, connections, "embeddings", probe)
        self.protocol: VendorProtocol = protocol
        self._sparse = sparse or SparseCache()
        self.space: Space = space_of(protocol, options.long_inputs, options.fit_images)
        """The embedding space this client's vectors are in (see :mod:`cn_embeddings._space`)."""
        self._role = role
        self._cache: Guarded | None = shared_cache(options.cache)
        told = {"instructions": protocol.vector_settings().get("instructions"), "extra_body": options.extra_body}
        self._scope = scope_of(self.space.id, role, told)

    # -- configuration ----------------------------------------------------------------------

    @property
    def quota_key(self) -> tuple[str, str, str, str]:
        """(vendor, host, account hash, model): what one vendor quota is counted against."""
        return quota_key(self.protocol.vendor, self.protocol.url, self._auth, self.protocol.model)

    @property
    def requests_per_second(self) -> float | None:
        """The configured or documented rate (None: found at run time, or rate control is off)."""
        rps = self.options.requests_per_second
        if rps is None:
            rps = self.protocol.quota.requests_per_second
        return rps if rps else None

    @property
    def long_inputs(self) -> str:
        """What happens to a text over the model's limit: 'error', 'truncate' or 'split'."""
        return self.options.long_inputs

    @property
    def is_closed(self) -> bool:
        """Whether every connection this client opened is closed (a call opens them again)."""
        return self._connections.is_closed

    @property
    def sparse_cache(self) -> SparseCache:
        """Sparse vectors received with dense ones, kept for the sparse side of a hybrid store."""
        return self._sparse

    @property
    def usage(self) -> Usage:
        """Everything this client (and its query variant) consumed so far, failed calls included:
        requests, retries, tokens, images."""
        return self._usage.snapshot()

    def __repr__(self) -> str:
        protocol = getattr(self, "protocol", None)  # also while __init__ is still running
        if protocol is None:
            return f"{type(self).__name__}(unconfigured)"
        return f"{type(self).__name__}(vendor={protocol.vendor!r}, model={protocol.model!r})"

    def for_queries(self) -> EmbeddingClient:
        """The client for query embeddings (Ark ``query_instructions``); shares connections,
        limiter, usage and the in-flight bound with this one."""
        protocol = self.protocol.for_queries()
        if protocol is self.protocol:
            return self
        twin = object.__new__(type(self))
        twin._configure(protocol, self._auth, self.options, self._usage, self._connections, self._sparse, "query")
        return twin

    # -- copying and pickling: configuration travels, connections are rebuilt -----------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "auth": self._auth,
            "options": self.options,
            "usage": self._usage,
            "role": self._role,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._configure(
            state["protocol"], state["auth"], state["options"], state["usage"], None, role=state.get("role", "document")
        )

    @property
    def cache_stats(self) -> dict[str, int]:
        """The cache's counts in this process (every client sharing it): hits, misses, bytes
        served; and whether it failed and was switched off (0 or 1). Empty without a cache."""
        cache = self._cache
        if cache is None:
            return {}
        return {"hits": cache.hits, "misses": cache.misses, "bytes": cache.bytes, "failed": int(cache.failed)}

    @property
    def multimodal(self) -> bool:
        return self.protocol.endpoint == "multimodal"

    def require_multimodal(self, method: str) -> None:
        """Fail early and clearly when a text-only model is asked for media."""
        if not self.multimodal:
            raise ConfigurationError(
                f"{self.protocol.model} is a text-only {self.protocol.vendor} model; {method} needs a multimodal model"
            )

    # -- public API -----------------------------------------------------------------------

    def embed(
        self,
        inputs: Sequence[Any],
        *,
        default: Literal["text", "image"] = "text",
        on_progress: ProgressCallback | None = None,
        show_progress: bool = False,
        cancel: Cancel | None = None,
    ) -> EmbeddingResult:
        """One vector per input, in order. Inputs: str, or {"text", "image", "video"} mappings, or
        what :meth:`validate` returned (sent without checking again).

        ``on_progress(done, total)`` is called (from a worker thread) as answers arrive, in
        inputs (a text split into pieces counts each piece); ``show_progress`` draws a bar on
        stderr (tqdm when installed). ``cancel``: a :class:`~cn_embeddings._flow.Cancel` another
        thread may set to drain the call (requests on the wire run to their answer, then nothing
        more) or stop it; the call then raises with its record."""
        with telemetry.operation(self.labels) as call:
            items, sent, owners = self._plan(inputs, default, call)
            if not sent:
                return EmbeddingResult([], Usage())
            with reporting(len(sent), on_progress, show_progress) as progress:
                if self._cache is None:
                    answers = self._answers(sent, self._run(*self._batches(sent), progress=progress, cancel=cancel))
                else:
                    with Reuse(self._cache, self._scope, sent, self.protocol.token_estimate, progress) as reuse:
                        reuse.look()
                        for todo, waits in reuse.rounds():
                            if todo:
                                outcome = self._run(*self._batches(todo), progress=progress, cancel=cancel)
                                reuse.keep(reuse.answered(self._answers(todo, outcome)))
                            for flight in waits:
                                flight.result()
                    answers = reuse.answers(self.protocol.vendor)
            return self._finish(items, sent, owners, answers, call)

    async def aembed(
        self,
        inputs: Sequence[Any],
        *,
        default: Literal["text", "image"] = "text",
        on_progress: ProgressCallback | None = None,
        show_progress: bool = False,
        cancel: Cancel | None = None,
    ) -> EmbeddingResult:
        """The same as :meth:`embed`, on the running event loop."""
        with telemetry.operation(self.labels) as call:
            items, sent, owners = self._plan(inputs, default, call)
            if not sent:
                return EmbeddingResult([], Usage())
            with reporting(len(sent), on_progress, show_progress) as progress:
                if self._cache is None:
                    outcome = await self._arun(*self._batches(sent), progress=progress, cancel=cancel)
                    answers = self._answers(sent, outcome)
                else:
                    with Reuse(self._cache, self._scope, sent, self.protocol.token_estimate, progress) as reuse:
                        await asyncio.to_thread(reuse.look)  # the cache's I/O, off the event loop
                        for todo, waits in reuse.rounds():
                            if todo:
                                outcome = await self._arun(*self._batches(todo), progress=progress, cancel=cancel)
                                await asyncio.to_thread(reuse.keep, reuse.answered(self._answers(todo, outcome)))
                            for flight in waits:
                                await asyncio.wrap_future(flight)
                    answers = reuse.answers(self.protocol.vendor)
            return self._finish(items, sent, owners, answers, call)

    def run_batch(self, items: list[Item], cancel: Cancel) -> BatchResult:
        """One request's checked items through the retry flow, in this thread (the bulk job's
        workers: it runs them through :func:`~cn_embeddings._batching.run_batches`, and sends a
        text split into pieces as its pieces, each an item of its own)."""
        if self._cache is None:
            return self._send_batch(items, cancel)
        with Reuse(self._cache, self._scope, items, self.protocol.token_estimate) as reuse:
            reuse.look()
            for todo, waits in reuse.rounds():
                if todo:
                    reuse.keep(reuse.answered(Answers.whole(self._send_batch(todo, cancel))))
                for flight in waits:
                    flight.result()
        answers = reuse.answers(self.protocol.vendor)
        hits = Usage(cache_hits=answers.usage.cache_hits, cache_misses=answers.usage.cache_misses)
        self._usage.add(hits)
        telemetry.cache_lookups(self.labels, hits.cache_hits, hits.cache_misses)
        return BatchResult(answers.vectors, answers.usage, answers.sparse, answers.multi)

    def _send_batch(self, items: list[Item], cancel: Cancel) -> BatchResult:
        sender, headers = self._sync_sender()
        with telemetry.operation(self.labels, len(items)) as call:
            try:
                result = run_sync(self._batch_flow(items, headers), sender, self._paced(), cancel)
            except BaseException as error:
                self._usage.add(billed(error))
                raise
            self._usage.add(result.usage)
            call.finished(_input_tokens(result.usage), len(result.vectors[0]) if result.vectors else None)
            return result

    def embed_texts(self, texts: Sequence[str], **kwargs: Any) -> list[list[float]]:
        return self.embed(texts, **kwargs).vectors

    async def aembed_texts(self, texts: Sequence[str], **kwargs: Any) -> list[list[float]]:
        return (await self.aembed(texts, **kwargs)).vectors

    def embed_images(self, images: Sequence[Any], **kwargs: Any) -> list[list[float]]:
        """Images as paths, bytes, file objects, http(s) URLs or data URIs."""
        return self.embed(images, default="image", **kwargs).vectors

    async def aembed_images(self, images: Sequence[Any], **kwargs: Any) -> list[list[float]]:
        return (await self.aembed(images, default="image", **kwargs)).vectors

    # -- internals ------------------------------------------------------------------------

    def validate(self, inputs: Sequence[Any], *, default: Literal["text", "image"] = "text") -> Prepared:
        """Check inputs against every rule without sending anything (raises InvalidInputError).

        Returns the checked items; passing them back to ``embed`` does not read any file again.
        For callers that split a call into pieces themselves (LlamaIndex batches), so that
        input 500 is reported as input 500 before input 0 is sent."""
        items = self.protocol.prepare(
            to_items(inputs, default=default), self.options.long_inputs, self.options.fit_images
        )
        return Prepared(items, self.protocol)

    def _plan(
        self, inputs: Sequence[Any], default: Literal["text", "image"], call: telemetry.Operation
    ) -> tuple[list[Item], list[Item], list[int] | None]:
        """Everything that can fail before a request fails here. Returns the checked inputs, the
        items to send (a split input's pieces in its place) and the input each sent item belongs
        to (None: nothing split); the call's span learns how many."""
        checked = isinstance(inputs, Prepared) and inputs.checked_for == self.protocol
        items = list(inputs) if checked else self.validate(inputs, default=default)
        call.set("cn_embeddings.inputs", len(items))
        sent, owners = _longtext.expand(items)
        return items, sent, owners

    def _batches(
        self, sent: list[Item]
    ) -> tuple[list[list[int]], Callable[[list[int], httpx.Headers | None], Flow[BatchResult]]]:
        """The batches of positions in ``sent``, and the flow of one batch (what the runners take)."""
        batches = list(plan_batches(self.protocol, sent, self.batch_size))
        return batches, lambda batch, headers: self._batch_flow([sent[i] for i in batch], headers)

    def _answers(self, sent: list[Item], outcome: Outcome[list[int], BatchResult]) -> Answers:
        return Answers.of(len(sent), outcome, self.protocol.vendor)

    def _batch_flow(self, items: list[Item], user_headers: httpx.Headers | None) -> Flow[BatchResult]:
        return self._flow(
            lambda: self.protocol.build_request(items),
            lambda response: self.protocol.parse_response(response, items),
            self.protocol.token_estimate(items),
            user_headers,
        )

    def _finish(
        self,
        items: list[Item],
        sent: list[Item],
        owners: list[int] | None,
        answers: Answers,
        call: telemetry.Operation,
    ) -> EmbeddingResult:
        """Count everything billed, then return the whole result, or raise the failure with the
        call's record (in inputs: a split input counts as embedded when all its pieces are)."""
        usage = answers.usage
        usage.images_fitted = sum(1 for i in sent if i.image is not None and i.image.fitted)
        if self._cache is not None:
            telemetry.cache_lookups(self.labels, usage.cache_hits, usage.cache_misses)
        self._usage.add(usage)
        if answers.sparse is not None:
            self._sparse.keep(self._sparse_keys(sent), answers.sparse)
        if answers.failure is not None:
            answers.failure.raise_with(answers.record(items, owners), self.labels)
        vectors = answers.vectors
        call.finished(_input_tokens(usage), len(vectors[0]) if vectors else None)
        if owners is not None:
            vectors = _longtext.merge(items, owners, vectors)
        return EmbeddingResult(vectors, usage, answers.sparse, answers.multi)


def _input_tokens(usage: Usage) -> int:
    return usage.prompt_tokens or usage.total_tokens


def billed(error: BaseException) -> Usage:
    """The requests a batch that failed for good made (each one may have been billed)."""
    return failure_of(None, error).billed
