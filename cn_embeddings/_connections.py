"""A client's connections: one httpx.Client for sync calls, one AsyncClient per event loop.

Kept out of the clients so that what they hold is configuration only: a
client pickles and deep-copies, and a copy builds its own connections. An
owned AsyncClient is tied to the loop it was made in and closed when that loop
shuts down; everything owned is closed by ``close()``, or when the last client
using it is dropped. ``is_closed`` tells a caller (or a test) whether anything
owned is still open.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

import httpx

from ._closing import close_with_loop
from ._deadline import deadline_transport, environment_proxies
from ._exceptions import ConfigurationError
from ._options import ClientOptions

__all__ = ["Closeable", "Connections"]


class _LoopState:
    """An event loop's AsyncClient (bound to the loop it runs on) and what closes it."""

    def __init__(self, client: httpx.AsyncClient, closer: AsyncGenerator[None, None] | None):
        self.client, self.closer = client, closer


class Connections:
    """Connections and locks: built lazily, shared by a client and its query variant, never
    pickled or copied."""

    def __init__(
        self, options: ClientOptions, http_client: httpx.Client | None, http_async_client: httpx.AsyncClient | None
    ) -> None:
        self.options = options
        self.lock = threading.Lock()
        self.http_client = http_client
        self.user_async_client = http_async_client
        self.user_async_loop: asyncio.AbstractEventLoop | None = None
        self.owns_sync = http_client is None
        self.loops: dict[asyncio.AbstractEventLoop, _LoopState] = {}

    def _new(self, cls: type) -> Any:
        size = max(self.options.max_concurrency, 10)  # one connection per request in flight
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        if cls is httpx.Client and not environment_proxies():  # the options holds each attempt to its deadline
            return cls(timeout=self.options.timeout, transport=deadline_transport(limits))
        return cls(timeout=self.options.timeout, limits=limits)

    def sync_client(self) -> httpx.Client:
        with self.lock:
            if self.http_client is None:
                self.http_client = self._new(httpx.Client)
            return self.http_client

    async def async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self.lock:
            if self.user_async_client is not None:
                if self.user_async_loop is not None and self.user_async_loop is not loop:
                    raise ConfigurationError(
                        "the http_async_client you passed is tied to the event loop it was first used in; "
                        "pass one per event loop (or none: the client then makes one per loop itself)"
                    )
                self.user_async_loop = loop
            state = self.loops.get(loop)
            for old in [lp for lp in self.loops if lp.is_closed()]:
                del self.loops[old]  # closed by close_with_loop when the loop shut down
            fresh = state is None
            if state is None:
                client = self.user_async_client or self._new(httpx.AsyncClient)
                closer = close_with_loop(client) if self.user_async_client is None else None
                state = self.loops[loop] = _LoopState(client, closer)
        if fresh and state.closer is not None:
            await state.closer.asend(None)
        return state.client

    @property
    def is_closed(self) -> bool:
        """No connection opened here is open: the sync client and each loop's AsyncClient (a
        user's own clients are the user's to close)."""
        with self.lock:
            sync_open = self.owns_sync and self.http_client is not None and not self.http_client.is_closed
            async_open = any(not s.client.is_closed for s in self.loops.values() if s.closer is not None)
        return not (sync_open or async_open)

    def close(self) -> None:
        """Close every owned connection: the sync client, and each loop's AsyncClient in its loop."""
        with self.lock:
            states, self.loops = self.loops, {}
            sync = self.http_client if self.owns_sync else None
            if sync is not None:
                self.http_client = None
        if sync is not None:
            sync.close()
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, state in states.items():
            if state.closer is None or loop.is_closed():
                continue
            if loop is current:
                task = loop.create_task(state.closer.aclose())
                _closing.add(task)
                task.add_done_callback(_closing.discard)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(state.closer.aclose(), loop)
            else:
                loop.run_until_complete(state.closer.aclose())

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        with self.lock:
            state = self.loops.pop(loop, None)
        if state is not None and state.closer is not None:
            await state.closer.aclose()
        self.close()

    def __del__(self) -> None:
        # As openai-python's client does: connections this runtime opened are closed when the last
        # client using it is dropped without close(), so no socket is left to the garbage collector.
        # At interpreter exit module globals may already be None and a half-built object may lack
        # its attributes: closing then must be silent, so nothing here names a module.
        try:
            if self.owns_sync and self.http_client is not None:
                self.http_client.close()
        except BaseException:  # noqa: BLE001, S110 - a finalizer never raises
            pass


_closing: set[asyncio.Task[None]] = set()  # strong references to closes scheduled by a sync close()


_C = TypeVar("_C", bound="Closeable")


class Closeable:
    """``with`` and ``async with`` for anything with ``close()`` and ``aclose()`` (core clients and
    both frameworks' classes)."""

    def close(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
