"""A rate limiter of the caller's, asked once per request before the request takes its turn.

LlamaIndex's ``BaseRateLimiter`` (``acquire(num_tokens)``, ``async_acquire(num_tokens)``) is the
shape: anything with those two methods can gate a client. The gate is asked with the request's
own token estimate, in the worker thread or task that is about to send it, so a budget shared
with other objects (an LLM's) is drawn on per request, never per framework batch.
"""

from __future__ import annotations

import math
from typing import Any

from ._ratecontrol import RateController
from ._ratecontrol._slot import Slot

__all__ = ["Gated"]


class Gated:
    """A rate controller whose ``acquire`` first asks ``gate``; everything else is the controller's."""

    def __init__(self, controller: RateController, gate: Any) -> None:
        self.controller, self.gate = controller, gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.controller, name)

    def acquire(self, cost: float = 0.0, *rest: Any, **given: Any) -> Slot:
        """The gate's turn for this request's tokens, then the controller's (same arguments)."""
        self.gate.acquire(math.ceil(cost))
        slot: Slot = self.controller.acquire(cost, *rest, **given)
        return slot

    async def aacquire(self, cost: float = 0.0, *rest: Any, **given: Any) -> Slot:
        await self.gate.async_acquire(math.ceil(cost))
        slot: Slot = await self.controller.aacquire(cost, *rest, **given)
        return slot
