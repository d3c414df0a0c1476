"""Pure retry decisions: what to retry and how long to wait.

Kept apart from I/O (as openai-python does) so the policy is tested without
sockets and the sync and async drivers share it. The waits are
``min(0.5 * 2**attempt, 8) * jitter`` seconds with jitter in [0.75, 1], or the
server's Retry-After when it is given and at most 60 s.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

from ._exceptions import CNEmbeddingsError, RateLimitError

__all__ = ["Decision", "RetryPolicy", "backoff_seconds", "is_retryable", "parse_retry_after"]

INITIAL_DELAY = 0.5
THROTTLED_INITIAL_DELAY = 0.1
MAX_DELAY = 8.0
# A quota refusal while the rate controller paces: the controller holds the retry back as long as
# the quota needs, so its own backoff only spreads retries, within a quota window
THROTTLED_MAX_DELAY = 1.0
MAX_RETRY_AFTER = 60.0
RETRYABLE_STATUS = frozenset({408, 409, 429})
QUOTA_PATIENCE = 300.0  # seconds of quota refusals a batch without timeout outlasts


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After (seconds or HTTP date) or retry-after-ms header."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - (time.time() if now is None else now)
    return max(seconds, 0.0)


def is_retryable(error: CNEmbeddingsError) -> bool:
    """Connection failures and timeouts are always retryable; API errors as their vendor module said."""
    return bool(getattr(error, "retryable", False))


def backoff_seconds(
    attempt: int,
    retry_after: float | None,
    rng: random.Random | None = None,
    initial: float = INITIAL_DELAY,
    cap: float = MAX_DELAY,
) -> float:
    """The wait before retry number ``attempt + 1`` (attempt counts from 0)."""
    if retry_after is not None and 0 <= retry_after <= MAX_RETRY_AFTER:
        return retry_after
    delay = min(initial * 2.0**attempt, cap)
    return delay * (1 - 0.25 * (rng or random).random())


@dataclass(frozen=True)
class Decision:
    """What to do after a failed attempt: wait ``delay`` seconds and retry, or (``delay`` None)
    give up; ``note`` says why when the error alone does not."""

    delay: float | None
    note: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How many retries one batch may take, and a switch that makes every wait zero (tests)."""

    max_retries: int = 3
    zero_waits: bool = False

    def decide(
        self,
        attempt: int,
        error: CNEmbeddingsError,
        *,
        throttled_for: float | None = None,
        deadline: float | None = None,
    ) -> Decision:
        """Whether and after how long to retry; the error is left as it is.

        ``throttled_for``: how long this batch has been refused for quota (None: this is not a
        quota refusal). Such refusals are retried beyond ``max_retries`` while they have lasted
        less than the batch's timeout (``deadline``; QUOTA_PATIENCE without one): the rate
        controller lowers the rate meanwhile, so a call does not fail for quota while its rate
        is being found. ``max_retries=0`` retries nothing."""
        patient = (
            throttled_for is not None
            and self.max_retries > 0
            and throttled_for < (deadline if deadline is not None else QUOTA_PATIENCE)
        )
        if (attempt >= self.max_retries and not patient) or not is_retryable(error):
            return Decision(None)
        asked = getattr(error, "retry_after", None)
        if asked is not None and asked > MAX_RETRY_AFTER:  # honoured, not shortened: give up, saying why
            return Decision(None, f"the server asked to wait {asked:.0f} s, above the {MAX_RETRY_AFTER:.0f} s cap")
        if self.zero_waits:
            return Decision(0.0)
        # A throttled request is paced by the rate controller already; its own backoff only spreads
        # the retries, so it starts short.
        initial = THROTTLED_INITIAL_DELAY if isinstance(error, RateLimitError) else INITIAL_DELAY
        cap = THROTTLED_MAX_DELAY if throttled_for is not None else MAX_DELAY
        return Decision(backoff_seconds(attempt, asked, initial=initial, cap=cap))
