"""A discrete-event simulation of callers, one rate controller and a vendor quota, on a fake clock.

The controller runs unchanged through its public core (``try_take``, ``due``, ``settle``,
``tell``); only waiting is simulated: a caller that would sleep is woken by an event at the time
it would wake, and a decrease wakes every caller waiting for its send time, as the real waiting
loops are woken. Each worker works through jobs (one request each); a refused request is retried
after the retry policy's backoff for throttled requests, as the flow does.

The vendor is a :class:`Vendor`, since none documents how it counts: a request is admitted or
refused when it arrives (``admit="arrival"``) or when its answer leaves (``"departure"``); a
refusal comes back after ``refuse_after`` seconds (a gateway that refuses before the model runs)
or, with None, after the whole latency; every latency has ``jitter`` (a share, uniform around it,
or lognormal with that sigma). It may also report ``usage`` times the tokens the client
estimated, answer a share ``overload`` with "overloaded", send Retry-After, tell its quota in
headers, change its quota by ``change`` (time, factor), refuse a ``burst`` (time, count) of
requests whatever the rate, and serve a second sender ``other`` (start, end, share of the quota)
on the same account.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cn_embeddings._ratecontrol import Outcome, Quota, RateController, Slot
from cn_embeddings._retry import THROTTLED_INITIAL_DELAY, THROTTLED_MAX_DELAY, backoff_seconds
from cn_embeddings.testing._quotas import QuotaRule, make_quota


@dataclass
class Run:
    seconds: float = 0.0
    requests: int = 0
    refused: int = 0
    rates: list[tuple[float, float]] = field(default_factory=list)  # (time, controller rate)
    accepted: list[float] = field(default_factory=list)  # times of accepted answers
    max_in_flight: int = 0

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests if self.requests else 0.0

    def reached(self, rate: float, after: float, span: float = 5.0) -> float | None:
        """Seconds after ``after`` until ``span`` seconds of accepted answers first held ``rate``."""
        times = [t for t in self.accepted if t >= after]
        j = 0
        for i, t in enumerate(times):
            while times[j] < t - span:
                j += 1
            if t - after >= span and (i - j + 1) / span >= rate:
                return t - after
        return None


@dataclass(frozen=True)
class Vendor:
    """How one simulated vendor behaves beyond its quota rule (see the module docstring)."""

    latency: float = 0.05
    jitter: float = 0.2
    lognormal: bool = False
    admit: str = "arrival"
    refuse_after: float | None = 0.005
    usage: float = 1.0
    overload: float = 0.0
    retry_after: float | None = None
    told: Quota | None = None
    change: tuple[float, float] | None = None
    burst: tuple[float, int] | None = None
    other: tuple[float, float, float] | None = None


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
    vendor: Vendor | None = None,
    hook: Callable[[RateController, float], None] | None = None,
) -> tuple[Run, RateController]:
    """Run ``jobs`` requests through a controller (a fresh one unless given, with its ``clock``
    list) against a quota of ``rule`` (None: no quota). ``told``: the quota every answer's
    headers tell. ``vendor`` (overriding latency, jitter, admit, refuse_after and told) models
    the rest; ``hook`` sees the controller at every event (an oracle's schedule)."""
    model = vendor or Vendor(latency, jitter, False, admit, refuse_after, told=told)
    rng = random.Random(seed)
    now = clock if clock is not None else [0.0]
    if controller is None:
        controller = RateController(quota, max_in_flight, clock=lambda: now[0])
    if prepare is not None:
        prepare(controller)
    state = [make_quota(rule) if rule is not None else None]
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
    burst = [model.burst[1] if model.burst else 0]
    run = Run()
    start = now[0]
    epoch = [controller.stats().decreases]
    reported = round(tokens * model.usage)

    def at(time: float, what: str, worker: int, data: object = None) -> None:
        heapq.heappush(events, (time, next(order), what, worker, data))

    def took() -> float:
        if model.lognormal:
            return model.latency * math.exp(model.jitter * rng.gauss(0.0, 1.0) - model.jitter**2 / 2)
        return model.latency * (1 + model.jitter * (rng.random() - 0.5))

    def schedule_send(worker: int, slot: Slot, time: float) -> None:
        gen = next(generation)
        pending[worker] = (slot, gen)
        at(time + controller.due(slot, time), "send", worker, gen)

    def decide(time: float) -> bool:
        quota = state[0]
        if model.burst and burst[0] and time - start >= model.burst[0]:
            burst[0] -= 1
            return False
        return quota is None or quota.admit(time, reported)

    for worker in range(workers):
        at(now[0], "try", worker)
    if model.change is not None and rule is not None:
        at(start + model.change[0], "change", -1)
    if model.other is not None and rule is not None:
        at(start + model.other[0], "other", -1)
    while events:
        time, _, what, worker, data = heapq.heappop(events)
        now[0] = time
        if limit is not None and time - start > limit:
            break
        if hook is not None:
            hook(controller, time)
        if what == "change":
            assert rule is not None and model.change is not None
            state[0] = make_quota(replace(rule, limit=rule.limit * model.change[1]))
        elif what == "other":  # the second sender: evenly paced at its share of the quota
            assert rule is not None and model.other is not None
            if state[0] is not None and time - start < model.other[1] and remaining[0] > 0:
                state[0].admit(time, reported)
                at(time + rule.window / (rule.limit * model.other[2]), "other", -1)
        elif what == "try":
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
            if model.admit == "arrival":
                admitted = decide(time)
                answer_in = took() if admitted or model.refuse_after is None else model.refuse_after
                at(time + answer_in, "answer", worker, (slot, admitted))
            else:
                at(time + took(), "decide", worker, slot)
        elif what == "decide":
            at(time, "answer", worker, (data, decide(time)))
        else:
            slot, admitted = data  # type: ignore[misc]
            if admitted and refuse_randomly and rng.random() < refuse_randomly:
                admitted = False
            overloaded = admitted and model.overload and rng.random() < model.overload
            if admitted and not overloaded:
                if state[0] is not None:
                    state[0].done()
                if model.told is not None:
                    controller.tell(model.told, time)
                controller.settle(slot, Outcome.ACCEPTED, time, tokens=reported)
                run.accepted.append(time)
                del refusals[worker]
                at(time, "try", worker)
            else:
                if overloaded:
                    if state[0] is not None:
                        state[0].done()
                    controller.settle(slot, Outcome.OVERLOADED, time)
                else:
                    run.refused += 1
                    controller.settle(slot, kind, time, retry_after=model.retry_after)
                refusals[worker] += 1
                delay = backoff_seconds(
                    min(refusals[worker], 30) - 1,
                    None if overloaded else model.retry_after,
                    rng,
                    THROTTLED_INITIAL_DELAY,
                    THROTTLED_MAX_DELAY,
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
