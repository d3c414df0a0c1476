"""Rate control for one vendor quota, composed of small named parts.

One :class:`RateController` serves every client, thread and event loop that draws on one quota
(vendor, host, account hash, model) in a process. The drivers take a :class:`Slot` before each
attempt and settle it with an :class:`Outcome`. The parts, each with its own constants and tests:

- ``_resolve``: where the pacing **starts**, decided once: configured, remembered, documented,
  or found;
- ``_learner``: **the rate**, starting (unpaced, bounded by the in-flight window) or **held** at
  the rate a refusal found admitted, then **CUBIC** (RFC 9438) probing above it;
- ``_pacer``: **GCRA** spaces requests and tokens evenly, with zero burst tolerance, so one
  pacing is safe however the vendor counts; it also prices a request's tokens;
- ``_inflight``: one bound on requests in flight: a **slow-start window** before a rate is
  paced, **Little's law** after, **AIMD** on "too many in flight";
- ``_delivery``: what the window before a refused request **admitted** (BBR's delivery rate);
- ``_rtt``: the **RFC 6298** latency estimate;
- ``_slot``: a **place in flight**, and the pacing it was claimed under;
- ``_line`` and ``_waiting``: a **fair line** of waiters, and the two waiting loops;
- ``_told``: the quota **told** by the vendor's rate-limit headers;
- ``_memory``: a learned quota **remembered** for the next run, as a starting point.

Where a quota comes from, most authoritative first: configured (``requests_per_second``,
``tokens_per_minute``), told by the answer's headers (lowering a configured quota, never
raising it), remembered from an earlier run, documented (the vendor tables), learned from
refusals. :meth:`RateController.stats` says which.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from typing import Any

from ._controller import RateController
from ._learner import Source
from ._line import WAKE_SLICE
from ._memory import RateMemory
from ._resolve import resolve
from ._slot import Slot
from ._told import told_quota
from ._types import Outcome, Quota, RateStore, Stats

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
    "live_controllers",
    "resolve",
    "shared_controller",
    "told_quota",
]

log = logging.getLogger("cn_embeddings")

_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], RateController] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_controller(
    key: tuple[Any, ...],
    documented: Quota,
    options: tuple[float | None, float | None, int],
    memory: RateMemory | None = None,
) -> RateController:
    """The process-wide controller of one quota (``key``: vendor, host, account hash, model, store).

    ``options``: the configured requests per second and tokens per minute, and ``max_concurrency``;
    clients that configure others get a controller of their own. A controller lives as long as
    some client holds it. ``memory``: where a learned rate is recalled from and kept (read before
    the process-wide lock is taken: a slow file or Redis never holds up other clients)."""
    rps, tpm, max_in_flight = options
    vendor, server, _, model = (str(part) for part in key[:4])
    if rps == 0:  # rate control off: only max_concurrency bounds this client's calls, shared with no one
        return RateController(None, max_in_flight, adaptive=False, vendor=vendor, model=model, server=server)
    full = (*key, *options)
    with _SHARED_LOCK:
        controller = _SHARED.get(full)
    if controller is not None:
        return controller
    recalled = memory.recall() if memory is not None and rps is None else None
    quota = resolve(documented, rps, tpm, recalled)
    with _SHARED_LOCK:
        controller = _SHARED.get(full)
        if controller is None:
            identity = hashlib.sha256(repr(full).encode()).hexdigest()[:12]  # the account is hashed already
            controller = RateController(
                quota, max_in_flight, adaptive=quota is not None, vendor=vendor, model=model, server=server,
                identity=identity,
            )  # fmt: skip
            controller.remember = memory.keep if memory is not None else None
            _SHARED[full] = controller
            log.info(
                "%s %s: pacing starts %s (source: %s)",
                vendor, model, _start(controller), controller.source.value,
            )  # fmt: skip
        return controller


def live_controllers() -> list[RateController]:
    """Every controller a client in this process still holds (the rate gauge reads them)."""
    with _SHARED_LOCK:
        return list(_SHARED.values())


def _start(controller: RateController) -> str:
    if controller.rate is None:
        return "unpaced, rate control off"
    return f"{'finding the quota from' if controller.requests.starting else 'at'} {controller.rate:.3g} requests/s"
