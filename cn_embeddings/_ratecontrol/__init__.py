"""Rate control for one vendor quota, composed of small named parts.

One :class:`RateController` serves every client, thread and event loop that draws on one quota
(vendor, host, account hash, model) in a process. The drivers take a :class:`Slot` before each
attempt and settle it with an :class:`Outcome`. The parts, each with its own constants and tests:

- ``_pacer``: **GCRA** spaces requests (and tokens) evenly, with zero burst tolerance once a
  quota is known, so one pacing is safe however the vendor counts;
- ``_learner``: **the rate**: a known quota at once; an unknown one costs nothing until the
  vendor refuses (a burst, then **BBR's startup** pacing from what the vendor delivers), then the
  admitted rate, then **CUBIC** (RFC 9438) probing above it; the controller **drains** what a
  learned rate sent past a refusal before pacing again (BBR's drain);
- ``_inflight``: **Little's law** (rate x latency) bounds requests in flight, a **slow-start
  window** before the quota is known, **AIMD** on "too many in flight";
- ``_rtt``: the **RFC 6298** latency estimate;
- ``_line``: a **fair line** of waiters, first come first served;
- ``_told``: the quota **told** by the vendor's rate-limit headers;
- ``_memory``: a learned quota **remembered** for the next run.

Where a quota comes from, most authoritative first: configured (``requests_per_second``,
``tokens_per_minute``), told by the answer's headers (lowering a configured quota, never
raising it), remembered from an earlier run, documented (the vendor tables), learned from
refusals. :meth:`RateController.stats` says which.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ._controller import Outcome, Quota, RateController, RateStore, Slot, Stats
from ._learner import Source
from ._line import WAKE_SLICE
from ._memory import RateMemory
from ._told import told_quota

__all__ = [
    "WAKE_SLICE",
    "Outcome",
    "Quota",
    "RateController",
    "RateMemory",
    "RateStore",
    "Slot",
    "Source",
    "Stats",
    "shared_controller",
    "live_controllers",
    "told_quota",
]

_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], RateController] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_controller(
    key: tuple[Any, ...], quota: Quota, max_in_flight: int, memory: RateMemory | None = None
) -> RateController:
    """The process-wide controller of one quota (``key``: vendor, host, account hash, model, store).

    Clients that configure another quota or ceiling get one of their own: both are part of the
    key. A controller lives as long as some client holds it. ``memory``: where a learned rate is
    recalled from (when the quota is not known otherwise) and kept."""
    full = (*key, quota.requests_per_second, quota.tokens_per_minute, max_in_flight)
    with _SHARED_LOCK:
        controller = _SHARED.get(full)
        if controller is None:
            recalled = memory.recall() if memory is not None and not _known(quota) else None
            if recalled:
                quota = Quota(recalled, quota.tokens_per_minute, origin=Source.REMEMBERED)
            controller = RateController(quota, max_in_flight, vendor=str(key[0]), model=str(key[3]), server=str(key[1]))
            controller.remember = memory.keep if memory is not None else None
            _SHARED[full] = controller
        return controller


def live_controllers() -> list[RateController]:
    """Every controller a client in this process still holds (the rate gauge reads them)."""
    with _SHARED_LOCK:
        return list(_SHARED.values())


def _known(quota: Quota) -> bool:
    return quota.requests_per_second is not None and quota.exact
