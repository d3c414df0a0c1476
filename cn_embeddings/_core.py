"""One vendor model's way to the wire, shared by the embedding and the rerank clients.

:class:`CallCore` holds what a client needs to send requests for one vendor
model: its protocol and auth, the options, the retry policy, the default
headers, the connections, the redactor, the names its logs, spans and
metrics carry, and the rate controller of its quota. It shapes each request
(defaults, ``extra_body``, the attempt timeout), makes the retry flow of a
batch, and runs batches sync or async on the shared runners. The clients
add only what they send and how they merge the answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from . import _telemetry as telemetry
from ._batching import Outcome, arun_batches, run_batches
from ._connections import Closeable, Connections
from ._exceptions import ConfigurationError
from ._flow import ACCEPT_ENCODING, Cancel, Flow, Sender, batch_flow, run_async, run_sync
from ._gate import Gated
from ._options import ClientOptions
from ._ratecontrol import Quota, RateController, shared_controller
from ._ratecontrol._memory import FileMemory, remembering
from ._ratecontrol._store import QUOTA_URL_ENV, shared_store
from ._retry import RetryPolicy
from ._secret import Redactor, fingerprint
from ._types import Answer, Usage, UsageCounter
from ._version import __version__

__all__ = ["CallCore", "options_from"]

USER_AGENT = f"cn-embeddings/{__version__}"
R = TypeVar("R", bound=Answer)
B = TypeVar("B")


class CallCore(Closeable):
    """See the module docstring. ``_configure_core`` sets it up; a subclass calls it from its own
    ``_configure`` (which ``__init__``, copies and unpickling share)."""

    protocol: Any

    def _configure_core(
        self,
        protocol: Any,
        auth: httpx.Auth,
        options: ClientOptions,
        usage: UsageCounter,
        connections: Connections,
        operation: str,
        probe: Callable[[], httpx.Request],
    ) -> None:
        """``operation``: ``embeddings`` or ``rerank``; ``probe`` builds a request of the protocol's,
        to check ``extra_body`` against the fields the client sets itself."""
        self.protocol = protocol
        self._auth = auth
        self.options = options
        self.batch_size: int = protocol.batch_size(options.batch_size)
        self.policy = RetryPolicy(max_retries=options.max_retries, zero_waits=options.zero_waits)
        self.default_headers = default_headers(options)
        self._usage = usage
        self._connections = connections
        self._redactor = Redactor(getattr(auth, "secret_values", tuple)())
        self.labels = labels_of(operation, protocol.vendor, protocol.model, protocol.url)
        key = quota_key(protocol.vendor, protocol.url, auth, protocol.model)
        self._controller = make_controller(key, protocol.quota, options)
        self.gate: Any = None  # a caller's rate limiter asked once per request (see cn_embeddings._gate)
        if options.extra_body:
            check_extra_body(options.extra_body, probe())

    @property
    def auth(self) -> httpx.Auth:
        """What signs or authorises each request (its repr shows no credential)."""
        return self._auth

    @property
    def controller(self) -> RateController:
        """The rate controller this client's quota is paced by (shared in the process)."""
        return self._controller

    def _paced(self) -> Any:
        """What a request waits on: the controller, asked after the caller's gate when one is set."""
        return self._controller if self.gate is None else Gated(self._controller, self.gate)

    @property
    def max_concurrency(self) -> int:
        return self.options.max_concurrency

    @property
    def timeout(self) -> float | None:
        return self.options.timeout

    @property
    def usage(self) -> Usage:
        """Everything this client consumed so far, failed calls included: requests, retries,
        tokens, images."""
        return self._usage.snapshot()

    def close(self) -> None:
        """Close every connection this client owns, in every event loop it used (a user-supplied
        ``http_client`` is left open). The client stays usable: a later call reconnects."""
        self._connections.close()

    async def aclose(self) -> None:
        await self._connections.aclose()

    # -- sending ----------------------------------------------------------------------------

    def _sender(self, client: httpx.Client | httpx.AsyncClient, users: bool) -> tuple[Sender, httpx.Headers | None]:
        """The sender over ``client``, and the client's default headers when it is the user's
        (``users``): they apply below ours, since requests are built here, outside that client."""
        return Sender(client, self._auth, self.labels, self._redactor), client.headers if users else None

    def _sync_sender(self) -> tuple[Sender, httpx.Headers | None]:
        return self._sender(self._connections.sync_client(), not self._connections.owns_sync)

    def _flow(
        self,
        request: Callable[[], httpx.Request],
        parse: Callable[[httpx.Response], R],
        cost: float,
        user_headers: httpx.Headers | None,
    ) -> Flow[R]:
        """The retry flow of one batch: ``request`` builds the protocol's request, shaped here
        at each attempt; ``cost``: the tokens it is expected to use."""
        options = self.options

        def build() -> httpx.Request:
            return with_defaults(request(), self.default_headers, user_headers, options.timeout, options.extra_body)

        return batch_flow(
            build, parse, self.policy, self._redactor, options.timeout, cost, controlled=self._controller.adaptive
        )

    def _run(
        self,
        batches: Sequence[B],
        flow_for: Callable[[B, httpx.Headers | None], Flow[R]],
        *,
        progress: Callable[[int], None] | None = None,
        cancel: Cancel | None = None,
    ) -> Outcome[B, R]:
        """Every batch through its flow, on worker threads (see :func:`~cn_embeddings._batching.run_batches`)."""
        sender, headers = self._sync_sender()
        paced = self._paced()
        return run_batches(
            batches,
            lambda batch, cancel: run_sync(flow_for(batch, headers), sender, paced, cancel),
            self.max_concurrency,
            progress=progress,
            cancel=cancel,
            known=len(batches),
        )

    async def _arun(
        self,
        batches: Sequence[B],
        flow_for: Callable[[B, httpx.Headers | None], Flow[R]],
        *,
        progress: Callable[[int], None] | None = None,
        cancel: Cancel | None = None,
    ) -> Outcome[B, R]:
        """The same on tasks of the running event loop."""
        connections = self._connections
        sender, headers = self._sender(await connections.async_client(), connections.user_async_client is not None)
        paced = self._paced()

        def call(batch: B, cancel: Cancel) -> Awaitable[R]:
            return run_async(flow_for(batch, headers), sender, paced, cancel)

        return await arun_batches(
            batches, call, self.max_concurrency, progress=progress, cancel=cancel, known=len(batches)
        )


def options_from(given: dict[str, Any]) -> ClientOptions:
    """The client options given, ``quota_url`` from the environment when not given."""
    if given.get("quota_url") is None and os.environ.get(QUOTA_URL_ENV):
        given = {**given, "quota_url": os.environ[QUOTA_URL_ENV]}
    return ClientOptions(**given)


def labels_of(operation: str, vendor: str, model: str, url: str) -> telemetry.Labels:
    """What a client's logs, spans and metrics name it by: host and port, and the endpoint
    without the userinfo a proxy URL may carry, or a query."""
    parts = urlsplit(url)
    try:
        given = parts.port  # None when the URL names none
        port = given or {"https": 443, "http": 80}.get(parts.scheme, 0)
    except ValueError:  # a port that is not one: none known
        given, port = None, 0
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    endpoint = f"{parts.scheme}://{shown}{f':{given}' if given else ''}{parts.path}"
    return telemetry.Labels(operation, vendor, model, host, port, endpoint if host else "")


def default_headers(options: ClientOptions) -> dict[str, str]:
    """The headers every request carries unless the protocol set them: ours, then the user's."""
    return {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING, **options.default_headers}


def quota_key(vendor: str, url: str, auth: httpx.Auth, model: str) -> tuple[str, str, str, str]:
    """(vendor, host[:port], account hash, model): what one vendor quota is counted against. The
    userinfo of an authenticating proxy (``https://user:password@proxy/``) counts through the
    account hash only: the key is written to files, Redis key names and metric labels."""
    parts = urlsplit(url)
    secret = next(iter(getattr(auth, "secret_values", tuple)()), "")
    if parts.username is not None or parts.password is not None:
        secret += f"\0{parts.username or ''}:{parts.password or ''}"
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "") + (f":{port}" if port else "")
    return vendor, host, fingerprint(secret), model


def make_controller(key: tuple[str, str, str, str], documented: Quota, options: ClientOptions) -> RateController:
    """The process's controller of one quota (``_ratecontrol.resolve`` decides where it starts)."""
    store = shared_store(options.quota_url, key) if options.quota_url else None
    memory = None
    if remembering(options.remember_quota):
        memory = store if store is not None else FileMemory(key)
    configured = (options.requests_per_second, options.tokens_per_minute, options.max_concurrency)
    controller = shared_controller((*key, options.quota_url), documented, configured, memory)
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
    for name, value in extra.items():  # a lone surrogate cannot be sent as UTF-8
        try:
            json.dumps({name: value}, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as error:
            raise ConfigurationError(
                f"extra_body field {name!r} holds text that cannot be sent as UTF-8 (a lone surrogate at "
                f"position {error.start} of its JSON)"
            ) from None
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"extra_body field {name!r} cannot be sent as JSON ({error})") from None
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
