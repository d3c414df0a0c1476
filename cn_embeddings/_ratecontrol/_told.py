"""A quota the vendor tells in its answer's headers.

- ``X-Ratelimit-Limit-Requests`` and ``X-Ratelimit-Limit-Tokens``: Qianfan's documented headers,
  per minute (wire reference §8.5; its official SDK sets its limiter from them on every answer).
  OpenAI-compatible services (TokenHub) send the same names in lower case, also per minute.
- ``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers): both the early form
  ``10;w=1, 1000;w=3600`` and the structured one ``"burst";q=100;w=60``; the strictest policy
  counting requests wins. No vendor documents it, so it is read only as a fallback.

Headers are untrusted input: a figure that is not a finite number, or a rate outside what any
vendor documents (``FLOOR`` to ``MAX_RATE`` requests per second, ``MAX_TPM`` tokens per minute),
is ignored with one DEBUG line, never raised on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from ._learner import FLOOR, Source
from ._resolve import MAX_RATE
from ._types import Quota

log = logging.getLogger("cn_embeddings")

MAX_TPM = 1e9  # tokens per minute: far above any documented quota

__all__ = ["told_quota"]


NAMES = frozenset({"x-ratelimit-limit-requests", "x-ratelimit-limit-tokens", "ratelimit-policy"})


def told_quota(headers: Mapping[str, str]) -> Quota | None:
    """The quota the headers tell (requests per second, tokens per minute), or None. Read on every
    answer, so one pass over the headers finds whether there is anything to read."""
    told = {name.lower(): value for name, value in headers.items() if name.lower() in NAMES}
    if not told:
        return None
    rpm = _number(told.get("x-ratelimit-limit-requests"))
    tpm = _within(_number(told.get("x-ratelimit-limit-tokens")), FLOOR * 60, MAX_TPM, "tokens per minute")
    rps = _within(rpm / 60 if rpm else _policy(told.get("ratelimit-policy")), FLOOR, MAX_RATE, "requests per second")
    if not rps and not tpm:
        return None
    return Quota(rps or None, tpm or None, origin=Source.TOLD)


def _within(value: float | None, least: float, most: float, unit: str) -> float | None:
    if value is None or least <= value <= most:
        return value
    log.debug("ignored a rate-limit header of %.3g %s (outside %g to %g)", value, unit, least, most)
    return None


def _number(value: str | None) -> float | None:
    try:
        number = float((value or "").strip())
    except ValueError:
        return None
    return number if 0 < number < math.inf else None


def _policy(value: str | None) -> float | None:
    """The strictest request rate of a RateLimit-Policy header, in requests per second."""
    rates = []
    for item in (value or "").split(","):
        head, *params = (part.strip() for part in item.split(";"))
        fields = dict(p.split("=", 1) for p in params if "=" in p)
        quota = _number(fields.get("q")) if "q" in fields else _number(head)
        unit = fields.get("qu", '"requests"').strip('"')
        window = _number(fields.get("w", "1"))
        if quota and window and unit == "requests":
            try:
                rates.append(quota / window)
            except (OverflowError, ZeroDivisionError):  # a hostile window: no rate
                continue
    return min(rates) if rates else None
