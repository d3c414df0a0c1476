"""The values the rate controller's parts exchange: outcomes, quotas, stats, the shared store."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ._learner import Source

__all__ = ["Labels", "Outcome", "Quota", "RateStore", "Stats"]


class Outcome(enum.Enum):
    """What became of a slot's request, as far as the quota is concerned."""

    ACCEPTED = "accepted"
    REFUSED_REQUESTS = "requests"  # a request-rate quota refused it
    REFUSED_TOKENS = "tokens"  # a token-rate quota refused it
    REFUSED_IN_FLIGHT = "in_flight"  # too many requests in flight
    OVERLOADED = "overload"  # the vendor's own load, not the caller's quota
    FAILED = "failed"  # no answer, or one that says nothing about the quota
    UNUSED = "unused"  # never sent

    @classmethod
    def refusal(cls, limit: str) -> Outcome:
        """The outcome of a RateLimitError's ``limit`` (requests, tokens, in_flight, overload)."""
        try:
            return cls(limit)
        except ValueError:
            return cls.REFUSED_REQUESTS


@dataclass(frozen=True)
class Quota:
    """A quota: requests per second and tokens per minute, None where nobody says. ``exact``
    False: an upper bound (another region's published figure), found by the start below it."""

    requests_per_second: float | None = None
    tokens_per_minute: float | None = None
    exact: bool = True
    source: str = ""  # where the figure is written (a vendor table's note)
    origin: Source = Source.DOCUMENTED  # how the client came to know it


@dataclass(frozen=True)
class Stats:
    """What the controller is doing now, for logs, metrics and tests."""

    rate: float | None
    token_rate: float | None
    source: Source
    starting: bool
    in_flight: int
    in_flight_limit: int
    refused: int
    decreases: int
    waiting: int  # callers in line for a place in flight


class RateStore(Protocol):
    """Where the pacing of a quota shared beyond this process lives (``_store``): reserves the next
    send time and returns the seconds to wait, or None when the store cannot be reached."""

    def reserve(self, interval: float, token_interval: float) -> float | None: ...

    async def areserve(self, interval: float, token_interval: float) -> float | None: ...


class Labels(NamedTuple):
    """What logs and metrics name a controller by: never a credential (the account is a hash)."""

    vendor: str
    model: str
    server: str  # host[:port], without userinfo
    identity: str = ""  # a hash of the whole key (account, configured quota, ceiling): one per controller
