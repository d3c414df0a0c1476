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

import json
import os
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from . import _longtext
from . import _telemetry as telemetry
from ._batching import Outcome, arun_batches, failure_of, plan_batches, run_batches
from ._connections import Closeable, Connections
from ._exceptions import ConfigurationError
from ._flow import ACCEPT_ENCODING, Cancel, Flow, Sender, batch_flow, run_async, run_sync
from ._inputs import Item, Prepared, to_items
from ._options import ClientOptions
from ._progress import ProgressCallback, reporting
from ._quota import QUOTA_URL_ENV, shared_store
from ._ratecontrol import Quota, RateController, Source, shared_controller
from ._ratecontrol._memory import FileMemory, remembering
from ._results import Answers
from ._retry import RetryPolicy
from ._secret import Redactor, fingerprint
from ._sparse import SparseCache, SparseReuse
from ._types import BatchResult, EmbeddingResult, Usage, UsageCounter
from ._version import __version__
from .vendors._base import VendorProtocol

__all__ = ["EmbeddingClient"]

USER_AGENT = f"cn-embeddings/{__version__}"


class EmbeddingClient(SparseReuse, Closeable):
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
    ) -> None:
        self.protocol = protocol
        self._auth = auth
        self.options = options
        self.batch_size = protocol.batch_size(options.batch_size)
        self.policy = RetryPolicy(max_retries=options.max_retries, zero_waits=options.zero_waits)
        self.default_headers = default_headers(options)
        self._usage = usage
        self._connections = connections or Connections(options, None, None)
        self._sparse = sparse or SparseCache()
        self._redactor = Redactor(getattr(auth, "secret_values", tuple)())
        self.labels = labels_of("embeddings", protocol.vendor, protocol.model, protocol.url)
        self._controller = self._make_controller()
        if options.extra_body:
            check_extra_body(options.extra_body, protocol.build_request(to_items(["x"])))

    def _make_controller(self) -> RateController:
        return make_controller(self.quota_key, self.protocol.quota, self.options)

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
    def max_concurrency(self) -> int:
        return self.options.max_concurrency

    @property
    def timeout(self) -> float | None:
        return self.options.timeout

    @property
    def long_inputs(self) -> str:
        """What happens to a text over the model's limit: 'error', 'truncate' or 'split'."""
        return self.options.long_inputs

    @property
    def is_closed(self) -> bool:
        """Whether every connection this client opened is closed (a call opens them again)."""
        return self._connections.is_closed

    @property
    def auth(self) -> httpx.Auth:
        """What signs or authorises each request (its repr shows no credential)."""
        return self._auth

    @property
    def sparse_cache(self) -> SparseCache:
        """Sparse vectors received with dense ones, kept for the sparse side of a hybrid store."""
        return self._sparse

    @property
    def controller(self) -> RateController:
        """The rate controller this client's quota is paced by (shared in the process)."""
        return self._controller

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
        twin._configure(protocol, self._auth, self.options, self._usage, self._connections, self._sparse)
        return twin

    # -- copying and pickling: configuration travels, connections are rebuilt -----------------

    def __getstate__(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "auth": self._auth, "options": self.options, "usage": self._usage}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._configure(state["protocol"], state["auth"], state["options"], state["usage"], None)

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
            items, sent, owners, batches = self._plan(inputs, default)
            call.set("cn_embeddings.inputs", len(items))
            if not batches:
                return EmbeddingResult([], Usage())
            sender, headers = self._sender(self._connections.sync_client(), not self._connections.owns_sync)
            with reporting(len(sent), on_progress, show_progress) as progress:
                outcome = run_batches(
                    batches,
                    lambda batch, cancel: run_sync(
                        self._batch_flow([sent[i] for i in batch], headers), sender, self._controller, cancel
                    ),
                    self.max_concurrency,
                    progress=progress,
                    cancel=cancel,
                    known=len(batches),
                )
            return self._finish(items, sent, owners, outcome, call)

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
            items, sent, owners, batches = self._plan(inputs, default)
            call.set("cn_embeddings.inputs", len(items))
            if not batches:
                return EmbeddingResult([], Usage())
            connections = self._connections
            sender, headers = self._sender(await connections.async_client(), connections.user_async_client is not None)
            with reporting(len(sent), on_progress, show_progress) as progress:
                outcome = await arun_batches(
                    batches,
                    lambda batch, cancel: run_async(
                        self._batch_flow([sent[i] for i in batch], headers), sender, self._controller, cancel
                    ),
                    self.max_concurrency,
                    progress=progress,
                    cancel=cancel,
                    known=len(batches),
                )
            return self._finish(items, sent, owners, outcome, call)

    def run_batch(self, items: list[Item], cancel: Cancel) -> BatchResult:
        """One request's checked items through the retry flow, in this thread (the bulk job's
        workers: it runs them through :func:`~cn_embeddings._batching.run_batches`, and sends a
        text split into pieces as its pieces, each an item of its own)."""
        sender, headers = self._sender(self._connections.sync_client(), not self._connections.owns_sync)
        with telemetry.operation(self.labels, len(items)) as call:
            try:
                result = run_sync(self._batch_flow(items, headers), sender, self._controller, cancel)
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

    def close(self) -> None:
        """Close every connection this client owns, in every event loop it used (a user-supplied
        ``http_client`` is left open). The client stays usable: a later call reconnects."""
        self._connections.close()

    async def aclose(self) -> None:
        await self._connections.aclose()

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
        self, inputs: Sequence[Any], default: Literal["text", "image"] = "text"
    ) -> tuple[list[Item], list[Item], list[int] | None, list[list[int]]]:
        """Everything that can fail before a request fails here. Returns the checked inputs, the
        items to send (a split input's pieces in its place), the input each sent item belongs to
        (None: nothing split) and the batches of sent items."""
        checked = isinstance(inputs, Prepared) and inputs.checked_for == self.protocol
        items = list(inputs) if checked else self.validate(inputs, default=default)
        sent, owners = _longtext.expand(items)
        return items, sent, owners, list(plan_batches(self.protocol, sent, self.batch_size))

    def _sender(self, client: httpx.Client | httpx.AsyncClient, users: bool) -> tuple[Sender, httpx.Headers | None]:
        """The sender over ``client``, and the client's default headers when it is the user's
        (``users``): they apply below ours, since requests are built here, outside that client."""
        return Sender(client, self._auth, self.labels, self._redactor), client.headers if users else None

    def _batch_flow(self, items: list[Item], user_headers: httpx.Headers | None) -> Flow[BatchResult]:

        def build() -> httpx.Request:
            return with_defaults(
                self.protocol.build_request(items),
                self.default_headers,
                user_headers,
                self.timeout,
                self.options.extra_body,
            )

        return batch_flow(
            build,
            lambda response: self.protocol.parse_response(response, items),
            self.policy,
            self._redactor,
            self.timeout,
            self.protocol.token_estimate(items),
            controlled=self._controller.adaptive,
        )

    def _finish(
        self,
        items: list[Item],
        sent: list[Item],
        owners: list[int] | None,
        outcome: Outcome[list[int], BatchResult],
        call: telemetry.Operation,
    ) -> EmbeddingResult:
        """Count everything billed, then return the whole result, or raise the failure with the
        call's record (in inputs: a split input counts as embedded when all its pieces are)."""
        answers = Answers.of(len(sent), outcome, self.protocol.vendor)
        usage = answers.usage
        usage.images_fitted = sum(1 for i in sent if i.image is not None and i.image.fitted)
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


def options_from(given: dict[str, Any]) -> ClientOptions:
    """The client options given, ``quota_url`` from the environment when not given."""
    if given.get("quota_url") is None and os.environ.get(QUOTA_URL_ENV):
        given = {**given, "quota_url": os.environ[QUOTA_URL_ENV]}
    return ClientOptions(**given)


def labels_of(operation: str, vendor: str, model: str, url: str) -> telemetry.Labels:
    """What a client's logs, spans and metrics name it by."""
    return telemetry.Labels(operation, vendor, model, urlsplit(url).hostname or "")


def default_headers(options: ClientOptions) -> dict[str, str]:
    """The headers every request carries unless the protocol set them: ours, then the user's."""
    return {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING, **options.default_headers}


def quota_key(vendor: str, url: str, auth: httpx.Auth, model: str) -> tuple[str, str, str, str]:
    """(vendor, host, account hash, model): what one vendor quota is counted against."""
    account = fingerprint(next(iter(getattr(auth, "secret_values", tuple)()), ""))
    return vendor, urlsplit(url).netloc, account, model


def make_controller(key: tuple[str, str, str, str], documented: Quota, options: ClientOptions) -> RateController:
    """The process's controller of one quota: the configured rates over the documented ones, and a
    rate remembered from an earlier run where neither is known."""
    if options.requests_per_second == 0:
        return RateController(None, options.max_concurrency, adaptive=False, vendor=key[0], model=key[3], server=key[1])
    configured = options.requests_per_second is not None or options.tokens_per_minute is not None
    rps = options.requests_per_second if options.requests_per_second is not None else documented.requests_per_second
    tpm = options.tokens_per_minute
    quota = Quota(
        rps or None,
        tpm if tpm is not None else documented.tokens_per_minute,
        exact=documented.exact or options.requests_per_second is not None,
        origin=Source.CONFIGURED if configured else Source.DOCUMENTED,
    )
    store = shared_store(options.quota_url, key) if options.quota_url else None
    memory = None
    if remembering(options.remember_quota):
        memory = store if store is not None else FileMemory(key)
    controller = shared_controller((*key, options.quota_url), quota, options.max_concurrency, memory)
    if store is not None and controller.store is None:
        controller.store = store
    return controller


def with_defaults(
    request: httpx.Request,
    defaults: dict[str, str],
    user_headers: httpx.Headers | None,
    timeout: float | None,
    extra_body: dict[str, Any] | None = None,
) -> httpx.Request:
    """A request built by a protocol, with ``extra_body``'s fields merged into its JSON body (a field
    the protocol set is refused by name), our default headers, then those of the user's own httpx
    client (below ours, since requests are built outside that client), and the attempt timeout."""
    if extra_body:
        request = _merged(request, extra_body)
    for name, value in defaults.items():
        request.headers.setdefault(name, value)
    for name, value in (user_headers or {}).items():
        if name.lower() not in ("user-agent", "accept", "accept-encoding", "connection"):
            request.headers.setdefault(name, value)
    if timeout is not None:
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
    return request


def check_extra_body(extra: dict[str, Any], probe: httpx.Request) -> None:
    """Refuse, at construction, an ``extra_body`` field that the client sets itself in ``probe`` (a
    request the protocol built), in any letter case: a vendor may read ``Model`` as ``model``."""
    fields = {name.lower(): name for name in json.loads(probe.content)}
    clash = sorted(name for name in extra if name.lower() in fields)
    if clash:
        named = ", ".join(f"{name!r} (the client's {fields[name.lower()]!r})" for name in clash)
        raise ConfigurationError(
            f"extra_body sets {named}, which the client sets itself; use the option for it instead"
        )


def _merged(request: httpx.Request, extra: dict[str, Any]) -> httpx.Request:
    body = json.loads(request.content)
    content = json.dumps({**body, **extra}, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    headers = [(name, value) for name, value in request.headers.raw if name.lower() != b"content-length"]
    return httpx.Request(request.method, request.url, content=content, headers=headers, extensions=request.extensions)


def _input_tokens(usage: Usage) -> int:
    return usage.prompt_tokens or usage.total_tokens


def billed(error: BaseException) -> Usage:
    """The requests a batch that failed for good made (each one may have been billed)."""
    return failure_of(None, error).billed
