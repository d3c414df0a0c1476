"""Where one quota's pacing starts: decided in one place, from what each source says.

Most authoritative first: configured (``requests_per_second``, ``tokens_per_minute``; 0 requests
per second turns rate control off), remembered from an earlier run (only where nobody stated the
request rate), documented (the vendor tables; an upper bound where ``exact`` is False), then
learned from refusals. A quota told by the answers' headers comes later, through
:meth:`RateController.tell`. A remembered rate is untrusted input (a file, a Redis key): outside
``(0, MAX_RATE]`` it is ignored.
"""

from __future__ import annotations

import math

from ._learner import Source
from ._types import Quota

__all__ = ["MAX_RATE", "resolve"]

MAX_RATE = 10_000.0  # requests per second: no vendor documents a quota near this


def resolve(
    documented: Quota,
    requests_per_second: float | None = None,
    tokens_per_minute: float | None = None,
    remembered: float | None = None,
) -> Quota | None:
    """The quota a controller starts from; None: rate control off."""
    if requests_per_second == 0:
        return None
    tpm = tokens_per_minute if tokens_per_minute is not None else documented.tokens_per_minute
    if requests_per_second is not None:
        return Quota(requests_per_second, tpm, origin=Source.CONFIGURED)
    configured = tokens_per_minute is not None
    stated = documented.requests_per_second if documented.exact else None
    if stated is None and remembered is not None and math.isfinite(remembered) and 0 < remembered <= MAX_RATE:
        return Quota(remembered, tpm, origin=Source.REMEMBERED)
    origin = Source.CONFIGURED if configured else Source.DOCUMENTED
    return Quota(documented.requests_per_second, tpm, exact=documented.exact, origin=origin)
