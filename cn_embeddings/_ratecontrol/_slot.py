"""One place in flight: the request it stands for, and the pacing decisions it was sent under."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._types import Outcome

if TYPE_CHECKING:
    from ._controller import RateController

__all__ = ["LEASE_WITHOUT_DEADLINE", "Slot"]

LEASE_WITHOUT_DEADLINE = 600.0  # seconds a slot of an attempt without timeout may stay unsettled


class Slot:
    """A place in flight with its claimed send time (``sent_at``); settle it exactly once.

    ``estimate``: the client's token estimate; ``cost``: its price in tokens when claimed (then what
    the vendor reported); ``rate`` and ``token_rate``: the pacing it was claimed under, which a
    refusal is judged against; ``expires``: when an unsettled slot is reclaimed (twice the
    attempt's timeout and a second)."""

    __slots__ = (
        "claimed", "controller", "cost", "estimate", "expires", "rate", "refused", "remote", "sent_at", "settled",
        "token_rate",
    )  # fmt: skip

    def __init__(
        self, controller: RateController, estimate: float, cost: float, now: float, lease: float, sent_at: float
    ) -> None:
        self.controller, self.estimate, self.cost, self.claimed, self.sent_at = controller, estimate, cost, now, sent_at
        self.expires = now + lease * 2 + 1
        self.rate, self.token_rate = controller.rate, controller.token_rate
        self.settled = self.refused = self.remote = False

    def settle(self, outcome: Outcome, tokens: int = 0, retry_after: float | None = None) -> None:
        """Settle with the controller's own clock; ``tokens``: the usage the vendor reported."""
        self.controller.settle(self, outcome, self.controller.clock(), tokens=tokens, retry_after=retry_after)
