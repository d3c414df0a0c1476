"""Closing an async client with the event loop it belongs to (the clients' connections, a shared
quota's Redis connections)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

__all__ = ["close_with_loop"]


class _AsyncCloseable(Protocol):
    async def aclose(self) -> Any: ...


async def close_with_loop(client: _AsyncCloseable) -> AsyncGenerator[None, None]:
    """Closes ``client`` when its event loop shuts down: ``asyncio.run`` closes every live async
    generator before it closes the loop, so an owned AsyncClient (or async Redis client) never
    outlives its loop. Start it with ``asend(None)`` and keep a reference as long as the client."""
    try:
        yield
    finally:
        await client.aclose()
