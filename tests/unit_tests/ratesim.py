"""A discrete-event simulation of callers, one rate controller and a vendor quota, on a fake clock.

The controller runs unchanged through its public core (``try_take``, ``due``, ``settle``,
``tell``); only waiting is simulated: a caller that would sleep is woken by an event at the time
it would wake, and a decrease wakes every caller waiting for its send time, as the real waiting
loops are woken. Each worker works through jobs (one request each); a refused request is retried
after the retry policy's backoff for throttled requests, as the flow does.

The vendor is modelled three ways, since none documents it: a request is admitted or refused when
it arrives (``admit="arrival"``) or when its answer leaves (``"departure"``); a refusal comes back
after ``refuse_after`` seconds (a gateway that refuses before the model runs) or, with None, after
the whole latency; every latency has ``jitter`` (a share, uniform around it).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cn_embeddings._ratecontrol import Outcome, Quota, RateController, Slot
from cn_embeddings._retry import THROTTLED_INITIAL_DELAY, THROTTLED_MAX_DELAY, backoff_seconds
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
    rule: QuotaRule | None,
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
    admit: str = "arrival",
    refuse_after: float | None = 0.005,
    told: Quota | None = None,
    controller: RateController | None = None,
    clock: list[float] | None = None,
    prepare: Callable[[RateController], None] | None = None,
) -> tuple[Run, RateController]:
    """Run ``jobs`` requests through a controller (a fresh one unless given, with its ``clock``
    list) against a quota of ``rule`` (None: no quota). ``told``: the quota every answer's
    headers tell."""
    rng = random.Random(seed)
    now = clock if clock is not None else [0.0]
    if controller is None:
        controller = RateController(quota, max_in_flight, clock=lambda: now[0])
    if prepare is not None:
        prepare(controller)
    vendor = make_quota(rule) if rule is not None else None
    kind = Outcome.REFUSED_REQUESTS
    if rule is not None and rule.kind == "tokens":
        kind = Outcome.REFUSED_TOKENS
    elif rule is not None and rule.kind == "inflight":
        kind = Outcome.REFUSED_IN_FLIGHT
    events: list[tuple[float, int, str, int, object]] = []
    order = itertools.count()
    waiting: list[int] = []
    pending: dict[int, tuple[Slot, int]] = {}  # worker: its slot waiting to be sent, and a generation
    generation = itertools.count()
    remaining = [jobs]
    refusals: dict[int, int] = {}
    run = Run()
    start = now[0]
    epoch = [controller.stats().decreases]

    def at(time: float, what: str, worker: int, data: object = None) -> None:
        heapq.heappush(events, (time, next(order), what, worker, data))

    def took() -> float:
        return latency * (1 + jitter * (rng.random() - 0.5))

    def schedule_send(worker: int, slot: Slot, time: float) -> None:
        gen = next(generation)
        pending[worker] = (slot, gen)
        at(time + controller.due(slot, time), "send", worker, gen)

    for worker in range(workers):
        at(now[0], "try", worker)
    while events:
        time, _, what, worker, data = heapq.heappop(events)
        now[0] = time
        if limit is not None and time - start > limit:
            break
        if what == "try":
            if remaining[0] <= 0 and worker not in refusals:
                continue
            if worker not in refusals:
                remaining[0] -= 1
                refusals[worker] = 0
            slot = controller.try_take(float(tokens), time, lease=60.0)
            if slot is None:
                waiting.append(worker)
                continue
            schedule_send(worker, slot, time)
        elif what == "send":
            held = pending.get(worker)
            if held is None or held[1] != data:
                continue  # superseded by a later look
            slot = held[0]
            if controller.due(slot, time) > 0:
                schedule_send(worker, slot, time)
                continue
            del pending[worker]
            run.requests += 1
            run.max_in_flight = max(run.max_in_flight, controller.stats().in_flight)
            if admit == "arrival":
                admitted = vendor is None or vendor.admit(time, tokens)
                answer_in = took() if admitted or refuse_after is None else refuse_after
                at(time + answer_in, "answer", worker, (slot, admitted))
            else:
                at(time + took(), "decide", worker, slot)
        elif what == "decide":
            admitted = vendor is None or vendor.admit(time, tokens)
            at(time, "answer", worker, (data, admitted))
        else:
            slot, admitted = data  # type: ignore[misc]
            if admitted and refuse_randomly and rng.random() < refuse_randomly:
                admitted = False
            if admitted:
                if vendor is not None:
                    vendor.done()
                if told is not None:
                    controller.tell(told, time)
                controller.settle(slot, Outcome.ACCEPTED, time, tokens=tokens)
                del refusals[worker]
                at(time, "try", worker)
            else:
                run.refused += 1
                controller.settle(slot, kind, time)
                refusals[worker] += 1
                delay = backoff_seconds(
                    min(refusals[worker], 30) - 1, None, rng, THROTTLED_INITIAL_DELAY, THROTTLED_MAX_DELAY
                )
                at(time + delay, "try", worker)
            run.rates.append((time, controller.rate or 0.0))
            run.seconds = time - start
            for waiter in waiting:
                at(time, "try", waiter)
            waiting.clear()
            decreases = controller.stats().decreases
            if decreases != epoch[0]:  # a decrease wakes every caller waiting for its send time
                epoch[0] = decreases
                for other, (pending_slot, _) in list(pending.items()):
                    schedule_send(other, pending_slot, time)
    return run, controller


def bound(rule: QuotaRule, jobs: int, tokens: int = 0) -> float:
    """The least time the quota allows for ``jobs`` requests."""
    per_second = rule.limit / rule.window
    if rule.kind == "tokens":
        per_second /= tokens
    return jobs / per_second
