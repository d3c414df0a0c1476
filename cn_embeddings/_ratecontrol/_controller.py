"""The rate controller of one quota: the named parts composed, a pure core, two waiting loops.

The core is three calls on an injected clock's time, with no waiting in them:

- ``try_take(cost, now)``: a place in flight and a claimed send time, or None (all places taken,
  or another caller came first);
- ``due(slot, now)``: seconds until the slot may be sent (a decrease since it was claimed claims
  it again at the new rate; a pause the vendor asked for holds it);
- ``settle(slot, outcome, now)``: what the answer (an :class:`Outcome`) says about the quota.

``acquire`` and ``aacquire`` are short loops over them that wait on a thread's event or a task's
future; the fake-clock simulation and the tests drive the core directly. Every slot taken must
be settled exactly once, by the loops themselves (``Outcome.UNUSED``) when they raise.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

from .._exceptions import APITimeoutError, Stopped
from .._retry import MAX_RETRY_AFTER
from ._inflight import InFlightLimit
from ._learner import FLOOR, INITIAL_BURST, JITTER_MARGIN, WINDOW, RateLearner, Source
from ._line import WAKE_SLICE, Line, Waker, wake
from ._pacer import Gcra
from ._rtt import RttEstimator

__all__ = ["Outcome", "Quota", "RateController", "RateStore", "Slot", "Stats"]

log = logging.getLogger("cn_embeddings")

LEASE_WITHOUT_DEADLINE = 600.0  # seconds a slot of an attempt without timeout may stay unsettled


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
    """Where the pacing of a quota shared beyond this process lives (``_quota``): reserves the next
    send time and returns the seconds to wait, or None when the store cannot be reached (the local
    pacing then takes over)."""

    def reserve(self, interval: float, token_interval: float) -> float | None: ...

    async def areserve(self, interval: float, token_interval: float) -> float | None: ...


class Slot:
    """One place in flight, and the pacing decisions it was sent under; settle it exactly once."""

    __slots__ = ("controller", "cost", "epoch", "expires", "rate", "refused", "remote", "sent_at", "settled")

    def __init__(self, controller: RateController, cost: float, expires: float, sent_at: float) -> None:
        self.controller, self.cost, self.expires, self.sent_at = controller, cost, expires, sent_at
        self.rate = controller.rate
        self.epoch = controller._epoch
        self.settled = self.refused = self.remote = False

    def settle(self, outcome: Outcome, tokens: int = 0, retry_after: float | None = None) -> None:
        """Settle with the controller's own clock; ``tokens``: the usage the vendor reported."""
        self.controller.settle(self, outcome, self.controller.clock(), tokens=tokens, retry_after=retry_after)


def _shown(rate: float | None) -> str:
    return "no" if rate is None else f"{rate:.3g}"


class RateController:
    """The rate, token and in-flight bounds of one quota (see the package docstring).

    ``quota``: the known quota, with its source (None for either rate: unknown, to be found).
    ``adaptive`` False turns every bound off except ``max_in_flight`` (``requests_per_second=0``).
    ``clock`` is a seam for tests."""

    def __init__(
        self,
        quota: Quota | None = None,
        max_in_flight: int = 128,
        *,
        adaptive: bool = True,
        vendor: str = "",
        model: str = "",
        server: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        quota = quota or Quota(origin=Source.NONE)
        self.vendor, self.adaptive, self.max_in_flight, self.clock = vendor, adaptive, max_in_flight, clock
        self.model, self.server = model, server  # for logs and metrics
        rps = quota.requests_per_second if adaptive else None
        start = adaptive and (rps is None or not quota.exact)
        source = quota.origin if rps is not None and quota.exact else Source.LEARNED if adaptive else Source.NONE
        self.configured = rps if quota.origin is Source.CONFIGURED else None
        remembered = quota.origin is Source.REMEMBERED
        self.requests = RateLearner(
            None if start else rps, ceiling=None if remembered else rps, source=source, start=start
        )
        if remembered and rps:  # the rate an earlier run found: a start, probed above like any learned one
            self.requests.hold(rps, clock())
        tps = quota.tokens_per_minute / 60 if quota.tokens_per_minute and adaptive else None
        self.tokens = RateLearner(tps, ceiling=tps, source=quota.origin if tps else Source.NONE, start=False)
        self.pacer = Gcra(free=INITIAL_BURST if start else 0)
        self.token_pacer = Gcra()
        self.limit = InFlightLimit(max_in_flight, slow_start=start)
        self.rtt = RttEstimator()
        self.line = Line()
        self.store: RateStore | None = None
        self.remember: Callable[[float], None] | None = None  # keeps a learned rate for later runs
        self._lock = threading.Lock()
        self._slots: set[Slot] = set()
        self._sent: deque[Slot] = deque()  # recent slots by claim, for the admitted rate
        self._forgotten = -1.0  # the latest send time dropped from it
        self._answered: deque[tuple[float, float]] = deque()  # accepted answers (time, tokens), likewise
        self._cut_by: Slot | None = None  # the refused slot the last decrease was measured at
        self._first_send: float | None = None
        self._most_delivered = 0.0  # accepted answers per second, the most seen during the start
        self._round_ends = 0.0  # the start's current round trip ends then (the full-pipe check)
        self._epoch = 0  # decreases so far: a send time claimed before the last one is claimed again
        self._cut_at = -1.0
        self._resume = -1.0  # pacing resumes no sooner than this after the last decrease
        self._paused_until = 0.0
        self._token_ratio = 1.0  # reported tokens over estimated, learned from answers
        self._refused = 0

    # -- what a reader may look at ----------------------------------------------------------------

    @property
    def rate(self) -> float | None:
        """Requests per second now (None: no request pacing)."""
        return self.requests.rate if self.adaptive else None

    @property
    def token_rate(self) -> float | None:
        """Tokens per second now (None: no token quota known yet)."""
        return self.tokens.rate

    @property
    def source(self) -> Source:
        return self.requests.source

    @property
    def in_flight(self) -> int:
        with self._lock:
            self._reclaim(self.clock())
            return len(self._slots)

    @property
    def in_flight_limit(self) -> int:
        if self.limit.full and self.rtt.least is not None:  # the start's pipe is full: BBR's 2 x BtlBw x RTprop
            return self.limit.limit(2 * self._most_delivered, self.rtt.least)
        return self.limit.limit(self.requests.rate, self.rtt.latency)

    def stats(self) -> Stats:
        with self._lock:
            return Stats(
                self.rate,
                self.token_rate,
                self.source,
                self.requests.starting,
                len(self._slots),
                self.in_flight_limit,
                self._refused,
                self._epoch,
                len(self.line.queue),
            )

    # -- the core ---------------------------------------------------------------------------------

    def try_take(self, cost: float, now: float, ticket: int | None = None, lease: float | None = None) -> Slot | None:
        """A place in flight with its send time claimed, or None when every place is taken or
        (with a ``ticket`` from the line) another caller is ahead."""
        with self._lock:
            self._reclaim(now)
            if ticket is not None and not self.line.look(ticket, now):
                return None
            if len(self._slots) >= self.in_flight_limit:
                return None
            if self.requests.starting:  # BBR keeps the most it has delivered: idle time does not undo it
                self._most_delivered = max(self._most_delivered, self._delivered(now))
                self.requests.ramp(self._most_delivered)
            cost *= self._token_ratio
            slot = Slot(self, cost, now + (lease or LEASE_WITHOUT_DEADLINE) * 2 + 1, self._claim(now, cost))
            self._slots.add(slot)
            self._sent.append(slot)
            self._forget(now - 2 * WINDOW)  # kept for two windows: memory stays flat
            if self._first_send is None:
                self._first_send = slot.sent_at
            if ticket is not None:
                self.line.served(ticket)
            return slot

    def due(self, slot: Slot, now: float) -> float:
        """Seconds until ``slot`` may be sent. A send time claimed before the last decrease, and
        not yet reached when it came, is claimed again at the new rate (it would otherwise go
        out at the rate just refused); a pause the vendor asked for holds every slot."""
        with self._lock:
            if slot.epoch != self._epoch and slot.sent_at > self._cut_at and not slot.remote:
                slot.sent_at = self._claim(now, slot.cost)
                slot.rate = self.requests.rate
            slot.epoch = self._epoch
            return max(slot.sent_at - now, self._paused_until - now, 0.0)

    def placed_remotely(self, slot: Slot, wait: float, now: float) -> None:
        """A shared store reserved this slot's send time ``wait`` seconds from ``now``."""
        with self._lock:
            slot.sent_at, slot.remote = now + wait, True

    def intervals(self, cost: float) -> tuple[float, float]:
        """GCRA's emission intervals for one request and its tokens at the current rates."""
        with self._lock:
            return (self.requests.interval() if self.adaptive else 0.0, self.tokens.interval(cost))

    def settle(
        self, slot: Slot, outcome: Outcome, now: float, *, tokens: int = 0, retry_after: float | None = None
    ) -> None:
        """What the answer to ``slot``'s request says; a slot settles once, later calls are ignored."""
        learned = None
        with self._lock:
            if slot.settled:
                return
            slot.settled = True
            self._slots.discard(slot)
            epoch, paused = self._epoch, self._paused_until
            if outcome is Outcome.UNUSED:
                slot.refused = True  # not sent: no part of the admitted rate
            elif self.adaptive:
                learned = self._learn(slot, outcome, now, tokens, retry_after)
            cut = self._epoch != epoch  # every waiter claims its send time again
            wakers = list(self.line.wakers.values()) if cut else [self.line.head_waker(now)]
        for waker in wakers:
            wake(waker)
        if cut:
            log.info(
                "%s %s: quota refusal; pacing at %s requests/s (source: %s)",
                self.vendor, self.model, _shown(self.rate), self.source.value,
            )  # fmt: skip
        if self._paused_until > paused:  # read without the lock: only for the log line
            log.info("%s %s: pausing %.2f s, as the vendor asked (Retry-After)", self.vendor, self.model, retry_after)
        if learned and self.remember is not None:  # file or Redis I/O: never on the caller's event loop
            threading.Thread(target=self.remember, args=(learned,), name="cn-embeddings-remember", daemon=True).start()

    def tell(self, quota: Quota, now: float) -> bool:
        """A quota the vendor's answer told (rate-limit headers); returns whether it changed the pacing."""
        with self._lock:
            changed = False
            if quota.requests_per_second and self.adaptive:
                if self.requests.tell(quota.requests_per_second, quota.origin, self.configured):
                    changed = True
                    self.limit.end_slow_start()
            if quota.tokens_per_minute and self.adaptive:
                changed = self.tokens.tell(quota.tokens_per_minute / 60, quota.origin, None) or changed
            if changed:
                self._decreased(now, self._room(now, self.requests.rate))
            wakers = list(self.line.wakers.values()) if changed else []
        for waker in wakers:
            wake(waker)
        if changed:
            log.info(
                "%s %s: pacing at %s requests/s (source: %s, from the answer's rate-limit headers)",
                self.vendor, self.model, _shown(self.rate), self.source.value,
            )  # fmt: skip
        return changed

    # -- under the lock ---------------------------------------------------------------------------

    def _claim(self, now: float, cost: float) -> float:
        due = self.pacer.claim(now, self.requests.interval() if self.adaptive else 0.0)
        if self.tokens.rate and cost:
            due = max(due, self.token_pacer.claim(now, self.tokens.interval(cost)))
        return due

    def _reclaim(self, now: float) -> None:
        """Forget slots whose lease has run out (never settled: a stopped loop, a killed thread)."""
        for slot in [slot for slot in self._slots if slot.expires < now]:
            self._slots.discard(slot)
            slot.settled = True

    def _decreased(self, now: float, resume: float | None = None) -> None:
        """Send times claimed from now on follow the new rate, from ``resume`` (when the window has
        room for it: ``_room``) or now; those claimed before are claimed again."""
        self._epoch += 1
        self._cut_at = now
        self._resume = max(self._resume, resume or now)  # a later decrease never sends sooner
        self.pacer.restart(max(now, self._resume))
        self.token_pacer.restart(max(now, self._resume))  # not a burst of the tokens saved meanwhile

    def _room(self, now: float, rate: float | None, tokens: bool = False) -> float:
        """When pacing at ``rate`` (requests or tokens per second) may resume after a decrease so
        that no window holds more than the rate allows, counting every request (or its tokens)
        sent in the last one: a sliding log. Each stays in the window until a WINDOW after it was
        sent; while the last of them, holding ``k``, are in it, the new pacing may have sent only
        the window's share less ``k``. Refused requests count too: some windows count them, and
        until a refusal comes back the requests went out at the rate refused (a whole latency of
        them when the vendor answers refusals late). This is BBR's drain, for a window instead of
        a queue."""
        if not rate:
            return now
        interval = 1 / (rate * (1 - JITTER_MARGIN))
        share = math.floor(WINDOW / interval)
        sent = sorted(
            (slot.sent_at, slot.cost if tokens else 1.0) for slot in self._sent if now - WINDOW < slot.sent_at <= now
        )
        resume, held = now, sum(cost for _, cost in sent)
        for sent_at, cost in sent:
            resume = max(resume, sent_at + WINDOW - max(share - held, 0.0) * interval)
            held -= cost
        return resume

    def _admitted(self, refused: Slot, now: float, tokens: bool) -> float:
        """The admitted rate at a refusal, the higher of two measures over a WINDOW: by send time,
        every request claimed before the refused one and sent within the window before it, less
        those refused (answers still on the way count as admitted: right when the vendor decides
        as requests arrive); and by answer time, the accepted answers of the last window (right
        when it decides as answers leave, in whatever order)."""
        by_send = self._sent_within(refused.sent_at, refused, tokens)
        by_answer = sum(cost if tokens else 1.0 for _, cost in self._recent_answers(now))
        return max(by_send, by_answer) / WINDOW

    def _sent_within(self, before: float, stop: Slot | None, tokens: bool) -> float:
        """Requests (or their tokens) claimed before ``stop``, sent in the WINDOW before ``before``
        and not refused."""
        self._forget(before - 2 * WINDOW)
        total = 0.0
        for slot in self._sent:
            if slot is stop:
                break
            if before - WINDOW <= slot.sent_at < before and not slot.refused:
                total += slot.cost if tokens else 1.0
        return total

    def _forget(self, before: float) -> None:
        """Drop the slots sent before ``before`` from the record, noting the latest send time dropped."""
        while self._sent and self._sent[0].sent_at < before:
            self._forgotten = max(self._forgotten, self._sent.popleft().sent_at)

    def _recent_answers(self, now: float) -> deque[tuple[float, float]]:
        """The accepted answers (time, tokens) of the last WINDOW."""
        while self._answered and self._answered[0][0] < now - WINDOW:
            self._answered.popleft()
        return self._answered

    def _delivered(self, now: float) -> float:
        """Accepted answers per second over the last WINDOW (or since the first send, if sooner)."""
        answered = len(self._recent_answers(now))
        if not answered or self._first_send is None:
            return 0.0
        return answered / max(min(WINDOW, now - self._first_send), 1e-3)

    def _learn(self, slot: Slot, outcome: Outcome, now: float, tokens: int, retry_after: float | None) -> float | None:
        """What one answer says about the quota; returns a newly learned request rate, if any."""
        if outcome is Outcome.FAILED:
            return None
        self.rtt.observe(now - slot.sent_at)
        if retry_after and retry_after <= MAX_RETRY_AFTER:  # a longer wait fails the call instead (_retry)
            self._paused_until = max(self._paused_until, now + retry_after)
        if outcome is Outcome.ACCEPTED:
            self.rtt.accepted(now - slot.sent_at, now)
            self._accepted(slot, now, tokens)
            return None
        if outcome is Outcome.REFUSED_IN_FLIGHT:
            self.limit.refused_in_flight(len(self._slots) + 1)
            return None
        if outcome is Outcome.OVERLOADED:
            return None
        slot.refused = True
        self._refused += 1
        local = self.store is None  # with a shared store this process admits only its share
        requests = outcome is Outcome.REFUSED_REQUESTS
        learner = self.requests if requests else self.tokens
        rate = learner.rate
        if requests:
            measured = slot
            if self._cut_by is not None and slot.sent_at < learner.last_cut + WINDOW:  # the last decrease's
                if slot.sent_at < self._cut_by.sent_at:
                    self._cut_by = slot  # refusals come back out of order: measured at the first one sent
                measured = self._cut_by
            admitted = self._admitted(measured, now, tokens=False) if local else None
            if measured is not slot and self._forgotten >= measured.sent_at - WINDOW:
                admitted = None  # the decrease's window is no longer all on record: not measured again
            cut = learner.refused(now, slot.sent_at, slot.rate, admitted, self.rtt.spread)
            if cut:
                self._cut_by = slot
        else:
            admitted = self._admitted(slot, now, tokens=True) if local else None
            cut = learner.refused(now, slot.sent_at, rate, admitted, self.rtt.spread)
        if not cut and learner.rate == rate:  # the last decrease measured again lower moves claimed times too
            return None
        # with a shared store, the store paces this process's share from now on
        resume = self._room(now, learner.rate, tokens=not requests) if local else now
        self.limit.end_slow_start()
        if self.requests.starting:  # a quota said no: the start is over for the request rate too
            self.requests.hold(max(self._sent_within(now, None, tokens=False) / WINDOW, FLOOR), now)
        self._decreased(now, resume)
        return self.requests.rate if requests and self.requests.learned else None

    def _accepted(self, slot: Slot, now: float, tokens: int) -> None:
        self._answered.append((now, float(tokens) or slot.cost))
        self._recent_answers(now)
        if self.requests.starting and now >= self._round_ends:
            self._round_ends = now + (self.rtt.srtt or 0.0)
            self.limit.round_trip(max(self._most_delivered, self._delivered(now)))
        if tokens and slot.cost:
            estimated = slot.cost / self._token_ratio
            self._token_ratio += (tokens / estimated - self._token_ratio) / 8
            if self.tokens.rate:  # GCRA correction: the bucket pays for what was really used
                self.token_pacer.tat += (tokens - slot.cost) / self.tokens.rate
        busy = (len(self._slots) + 1) * 2 >= self.in_flight_limit  # this slot counted: it was in use
        self.requests.accepted(now, busy)
        self.tokens.accepted(now, busy)
        self.limit.accepted(busy)

    # -- waiting loops ----------------------------------------------------------------------------

    def acquire(
        self,
        cost: float = 0.0,
        stop: threading.Event | None = None,
        deadline: float | None = None,
        lease: float | None = None,
    ) -> Slot:
        """Wait in this thread (at most ``deadline`` seconds) for a place in flight and for the send
        time the pacing gives. ``lease``: the attempt's own timeout; a slot not settled within
        twice that (LEASE_WITHOUT_DEADLINE without one) is reclaimed."""
        woken = threading.Event()
        steps = self._acquiring(woken, cost, stop, deadline, lease)
        try:
            step = next(steps)
            while True:
                try:
                    if isinstance(step, tuple):
                        answer = self.store.reserve(*step) if self.store is not None else None
                    else:
                        woken.wait(step)
                        woken.clear()
                        answer = None
                except BaseException as error:  # an interrupt while waiting: the slot is settled
                    steps.throw(error)
                    raise
                step = steps.send(answer)
        except StopIteration as done:
            slot: Slot = done.value
            return slot

    async def aacquire(
        self,
        cost: float = 0.0,
        stop: threading.Event | None = None,
        deadline: float | None = None,
        lease: float | None = None,
    ) -> Slot:
        """``acquire`` for a task: waits without blocking its event loop."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()  # set from any thread through the loop (see _line.wake)
        steps = self._acquiring((loop, woken), cost, stop, deadline, lease)
        try:
            step = next(steps)
            while True:
                try:
                    if isinstance(step, tuple):
                        answer = await self.store.areserve(*step) if self.store is not None else None
                    else:
                        timer = loop.call_later(step, woken.set)
                        try:
                            await woken.wait()
                        finally:
                            timer.cancel()
                            woken.clear()
                        answer = None
                except BaseException as error:  # cancelled while waiting: the slot is settled
                    steps.throw(error)
                    raise
                step = steps.send(answer)
        except StopIteration as done:
            slot: Slot = done.value
            return slot

    def _acquiring(
        self,
        waker: Waker,
        cost: float,
        stop: threading.Event | None,
        deadline: float | None,
        lease: float | None,
    ) -> Generator[float | tuple[float, float], float | None, Slot]:
        """The one waiting loop both drivers run, in line with ``waker``: yields seconds to wait
        (until woken) or, with a shared store, the intervals to reserve there (sent back: the store's
        wait); returns the slot. Whatever is thrown in or raised, a slot taken is settled as unused,
        and the caller leaves the line."""
        end = None if deadline is None else self.clock() + deadline
        ticket = self._join(waker)
        slot: Slot | None = None
        try:
            while slot is None:
                slot = self.try_take(cost, self.clock(), ticket, lease or deadline)
                if slot is None:
                    yield self._slice(end, stop, WAKE_SLICE)
            self._wake_head()
            intervals = self.intervals(slot.cost)
            if self.store is not None and any(intervals):
                wait = yield intervals
                if wait is not None:
                    self.placed_remotely(slot, wait, self.clock())
            while (wait := self.due(slot, self.clock())) > 0:
                yield self._slice(end, stop, wait)
            self._slice(end, stop, 0.0)  # a call stopped meanwhile sends nothing more
            return slot
        except BaseException:
            if slot is not None:
                self.settle(slot, Outcome.UNUSED, self.clock())
            raise
        finally:
            self._leave(ticket)

    def _join(self, waker: Waker) -> int:
        with self._lock:
            return self.line.join(waker, self.clock())

    def _leave(self, ticket: int) -> None:
        with self._lock:
            self.line.leave(ticket)
        self._wake_head()

    def _wake_head(self) -> None:
        with self._lock:
            waker = self.line.head_waker(self.clock())
        wake(waker)

    def _slice(self, end: float | None, stop: threading.Event | None, longest: float) -> float:
        """The next wait: at most ``longest`` and WAKE_SLICE, ending at the deadline; raises once
        stopped or late."""
        if stop is not None and stop.is_set():
            raise Stopped("the call was stopped while waiting to send")
        longest = min(longest, WAKE_SLICE)
        if end is not None:
            left = end - self.clock()
            if left <= 0:
                raise APITimeoutError(
                    self.vendor,
                    "no turn to send within the timeout (the quota or the requests in flight held it back)",
                    retryable=False,
                )
            longest = min(longest, left)
        return max(longest, 0.0)
