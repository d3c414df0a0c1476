"""A discrete-event simulation of callers, one rate controller and a vendor quota, on a fake clock.

The controller's own decisions (``_take``, ``_reserve``, the slots' settling) run unchanged; only
waiting is simulated: a worker that would sleep is woken by an event at the time it would wake.
Each worker works through jobs (one request each); a refused request is retried after the retry
policy's backoff for throttled requests, as the flow does.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cn_embeddings._ratecontrol import Quota, RateController
from cn_embeddings._retry import THROTTLED_INITIAL_DELAY, backoff_seconds
from cn_embeddings.testing._quotas import QuotaRule, make_quota


@dataclass
class Run:
    seconds: float = 0.0
    requests: int = 0
    refused: int = 0
    rates: list[tuple[float, float]] = field(default_factory=list)  # (time, controller rate)
    max_in_flight: int = 0

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests if self.requests else 0.0


def simulate(
    rule: QuotaRule,
    *,
    quota: Quota | None = None,
    jobs: int = 1200,
    latency: float = 0.05,
    jitter: float = 0.2,
    workers: int = 256,
    max_in_flight: int = 128,
    tokens: int = 0,
    refuse_randomly: float = 0.0,
    seed: int = 0,
    limit: float | None = None,
    adapt: Callable[[RateController, QuotaRule], None] | None = None,
) -> tuple[Run, RateController]:
    """Run ``jobs`` requests through a fresh controller against a quota of ``rule``; ``adapt``
    may replace parts of the controller first (``benchmarks/unknown_quota_bound.py`` gives it an
    oracle)."""
    rng = random.Random(seed)
    now = [0.0]
    controller = RateController(quota, max_in_flight, clock=lambda: now[0])
    if adapt is not None:
        adapt(controller, rule)
    vendor = make_quota(rule)
    kind = "tokens" if rule.kind == "tokens" else "in_flight" if rule.kind == "inflight" else "requests"
    events: list[tuple[float, int, str, int, object]] = []
    order = itertools.count()
    waiting: list[int] = []
    remaining = [jobs]
    refusals: dict[int, int] = {}
    run = Run()

    def at(time: float, what: str, worker: int, data: object = None) -> None:
        heapq.heappush(events, (time, next(order), what, worker, data))

    for worker in range(workers):
        at(0.0, "try", worker)
    while events:
        time, _, what, worker, data = heapq.heappop(events)
        now[0] = time
        if limit is not None and time > limit:
            break
        if what == "try":
            if remaining[0] <= 0 and worker not in refusals:
                continue
            if worker not in refusals:
                remaining[0] -= 1
                refusals[worker] = 0
            with controller._lock:
                slot = controller._take(float(tokens), 60.0)  # no line: the simulation orders its workers
            if slot is None:
                waiting.append(worker)
                continue
            at(time + controller._reserve(slot, None), "send", worker, slot)
        elif what == "send":
            slot = data
            wait = controller._resume_at(slot)  # type: ignore[arg-type]
            if wait > 0:
                at(time + wait, "send", worker, slot)
                continue
            run.requests += 1
            run.max_in_flight = max(run.max_in_flight, controller.in_flight)
            admitted = vendor.admit(time, tokens) and not rng.random() < refuse_randomly
            took = latency * (1 + jitter * (rng.random() - 0.5))
            at(time + took, "answer", worker, (slot, admitted))
        else:
            slot, admitted = data  # type: ignore[misc]
            if admitted:
                vendor.done()
                slot.accepted(tokens)
                del refusals[worker]
                at(time, "try", worker)
            else:
                run.refused += 1
                slot.refused(kind)
                refusals[worker] += 1
                at(
                    time + backoff_seconds(min(refusals[worker], 30) - 1, None, rng, THROTTLED_INITIAL_DELAY),
                    "try",
                    worker,
                )
            run.rates.append((time, controller.rate or 0.0))
            for waiter in waiting:
                at(time, "try", waiter)
            waiting.clear()
        run.seconds = time
    return run, controller


def bound(rule: QuotaRule, jobs: int, tokens: int = 0) -> float:
    """The least time the quota allows for ``jobs`` requests."""
    per_second = rule.limit / rule.window
    if rule.kind == "tokens":
        per_second /= tokens
    return jobs / per_second
