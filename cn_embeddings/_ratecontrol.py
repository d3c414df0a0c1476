"""Rate control for one vendor quota: pacing, finding an unknown quota, and the bound on requests in flight.

One :class:`RateController` serves every client, thread and event loop that
draws on one quota (vendor, host, account hash, model) in a process. The
drivers ask it for a :class:`Slot` before each attempt (``acquire`` in
threads, ``aacquire`` in tasks) and settle the slot with the answer. Each
decision is a named algorithm with its textbook constants:

- **Pacing: GCRA** (the generic cell rate algorithm, ITU-T I.371, in its
  virtual-scheduling form). Requests are spaced at ``1 / rate``, tokens at
  ``cost / token_rate``, both ``JITTER_MARGIN`` (2%) under the rate so that
  the spread of send and network times (GCRA's cell delay variation) never
  puts one request too many into a window. The burst tolerance is zero, so
  no window of any length holds more than ``rate`` requests per second: one
  pacing is safe under moving windows, fixed windows, token buckets and
  windows that count refused requests alike. A request's token cost is
  estimated before sending and corrected from the usage in the answer.
- **Finding and holding the quota: slow start, then CUBIC** (RFC 9438, as
  botocore's adaptive retry mode applies it to a request rate, with
  ``beta = 0.7`` and ``C = 0.4``). A quota nobody documented starts at
  ``INITIAL_RATE`` (or under a published bound that may not be this
  account's) and grows by one request per second per answer and round
  (RFC 5681 slow start: twice as many per round) while the vendor accepts
  everything. On a quota refusal, the rate the refused request was sent at,
  or the rate the vendor admitted over the last round if lower (the
  delivery-rate estimate of BBR), becomes ``W_max``; the rate drops to
  ``beta * W_max`` and then follows ``C * (t - K)**3 + W_max``: back to
  ``W_max`` after ``K = cbrt(W_max * (1 - beta) / C)`` seconds, flat near
  it, then probing beyond. The rate grows only while the caller keeps at
  least half the in-flight bound in use (the guard of Netflix
  concurrency-limits against growing while the caller is the bottleneck),
  and never beyond a documented or configured quota. A round is
  ``max(SRTT, QUOTA_WINDOW)``: a refusal of a request sent less than a round
  after the last decrease belongs to that decrease (TCP's once-per-window
  rule, with the quota's own counting window as the floor, since a quota
  that counts refused requests keeps refusing for a window after the cause),
  and send times claimed before a decrease are claimed again at the new
  rate. Token quotas follow the same CUBIC on their own rate, from the first
  refusal the vendor marks as a token-quota refusal.
- **Concurrency: Little's law.** The requests in flight needed to hold a rate
  are ``rate x latency``; the bound is ``rate x (SRTT + 4 RTTVAR)`` (the
  latency estimate of RFC 6298), so a slow vendor is still driven at its
  quota, up to ``max_concurrency``. A vendor's "too many in flight" refusal
  (Ark ``InflightBatchsizeExceeded``) lowers that ceiling as Netflix
  concurrency-limits' ``AIMDLimit`` does: times 0.9, and plus one per answer
  while at least half of it is used.
- **Overload and Retry-After** pause every sender of the quota until the time
  the vendor named (as the Ark SDK's breaker does) without lowering the rate.

Callers wait for a place in flight in one line, first come first served, and
only the one at its head is woken when a place frees. Every place in flight
is a lease: a slot that is never settled (its event loop was stopped, its
thread was killed) is reclaimed when its deadline has passed, so no caller
elsewhere waits on it for ever.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ._exceptions import APITimeoutError, Stopped
from ._retry import MAX_RETRY_AFTER

__all__ = ["Quota", "RateController", "RateStore", "Slot", "shared_controller"]

# Requests are spaced this much under the rate: a window that counts them never sees one more
# than the quota because of the spread of send and network times (GCRA's cell delay variation)
JITTER_MARGIN = 0.02
# CUBIC (RFC 9438 section 4; the values botocore's adaptive mode uses)
BETA = 0.7
SCALE = 0.4  # "C"
# Slow start for a quota nobody documented: where it starts, how it grows
INITIAL_RATE = 10.0  # requests per second
QUOTA_WINDOW = 1.0  # seconds: the shortest window a vendor documents a quota over (per second)
FLOOR = 0.1  # requests per second: never slower than one request in ten seconds
# RFC 6298's smoothed round-trip time and its variation
RTT_ALPHA, RTT_BETA, RTT_K = 1 / 8, 1 / 4, 4
INITIAL_RTT = 1.0  # seconds: the latency assumed before the first answer (RFC 6298's initial RTO)
# Netflix concurrency-limits AIMDLimit
AIMD_BACKOFF = 0.9
LEASE_WITHOUT_DEADLINE = 600.0  # seconds a slot of an attempt without timeout may stay unsettled
WAKE_SLICE = 0.1  # seconds between looks at a stop event while waiting
STALE_WAITER = 1.0  # seconds without a look after which a caller in line is passed over


@dataclass(frozen=True)
class Quota:
    """A quota as documented (vendor tables) or configured: requests per second and tokens per
    minute; None where nobody says."""

    requests_per_second: float | None = None
    tokens_per_minute: float | None = None
    exact: bool = True  # False: an upper bound (another region's published figure): found by slow start below it
    source: str = ""


class RateStore(Protocol):
    """Where the pacing of a quota shared beyond this process lives (``_quota``): reserves the
    next send time for one request costing ``tokens`` and returns the seconds to wait, or None
    when the store cannot be reached (the local pacing then takes over)."""

    def reserve(self, interval: float, token_interval: float) -> float | None: ...

    async def areserve(self, interval: float, token_interval: float) -> float | None: ...


class _Cubic:
    """One rate under CUBIC (RFC 9438), optionally after slow start; ``rate`` None: no limit yet."""

    def __init__(self, rate: float | None, ceiling: float | None, slow_start: bool) -> None:
        self.rate, self.ceiling, self.slow_start = rate, ceiling, slow_start
        self.w_max = 0.0
        self.k = 0.0
        self.epoch = 0.0
        self.last_cut = -math.inf

    def refused(
        self, now: float, sent_at: float, sent_rate: float | None, admitted: float | None, round_seconds: float
    ) -> bool:
        """A refusal of a request sent at ``sent_at``; returns whether it lowered the rate."""
        if sent_at < self.last_cut + round_seconds:
            return False  # part of the last decrease
        basis = [r for r in (sent_rate, admitted) if r]
        if not basis:
            return False
        self.w_max = max(min(basis), FLOOR)
        self.rate = max(self.w_max * BETA, FLOOR)
        self.k = (self.w_max * (1 - BETA) / SCALE) ** (1 / 3)
        self.epoch = self.last_cut = now
        self.slow_start = False
        return True

    def accepted(self, now: float, busy: bool, round_seconds: float) -> None:
        """An answer the vendor accepted; ``busy``: the caller keeps the controller's bound at least
        half used, so the answer says something about the quota (else the rate only holds)."""
        if self.rate is None or not busy:
            return
        if self.slow_start:
            self.rate += 1 / round_seconds  # RFC 5681: one more per answer, twice as many per round trip
        elif self.w_max:
            t = now - self.epoch
            self.rate = max(SCALE * (t - self.k) ** 3 + self.w_max, FLOOR)
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)


class _Meter:
    """Events (with a weight) over the last ``span`` seconds, as a rate."""

    def __init__(self, span: float) -> None:
        self.span = span
        self.events: deque[tuple[float, float]] = deque()
        self.total = 0.0
        self.started: float | None = None

    def add(self, now: float, weight: float = 1.0) -> None:
        if self.started is None:
            self.started = now
        self.events.append((now, weight))
        self.total += weight
        self._trim(now)

    def rate(self, now: float) -> float | None:
        self._trim(now)
        if self.started is None:
            return None
        seen = min(self.span, now - self.started)
        return self.total / seen if seen >= self.span / 4 else None

    def _trim(self, now: float) -> None:
        while self.events and self.events[0][0] < now - self.span:
            self.total -= self.events.popleft()[1]


class Slot:
    """One place in flight, and the pacing decisions it was sent under; settle it exactly once."""

    __slots__ = ("controller", "cost", "cuts", "expires", "rate", "sent_at", "settled", "token_rate")

    def __init__(self, controller: RateController, cost: float, expires: float) -> None:
        self.controller, self.cost, self.expires = controller, cost, expires
        self.rate = controller.rate
        self.token_rate = controller.token_rate
        self.sent_at = 0.0
        self.settled = False
        self.cuts = controller._cuts  # the controller's decreases when the send time was claimed

    def accepted(self, tokens: int = 0) -> None:
        """The vendor answered; ``tokens`` is the usage it reported (0: not reported)."""
        self.controller._settle(self, "accepted", tokens=tokens)

    def refused(self, kind: str, retry_after: float | None = None) -> None:
        """Refused for quota: ``kind`` is requests, tokens, in_flight or overload."""
        self.controller._settle(self, kind, retry_after=retry_after)

    def failed(self) -> None:
        """No answer, or one that says nothing about the quota (a server error, a bad request)."""
        self.controller._settle(self, "failed")


class RateController:
    """The rate, token and in-flight bounds of one quota; see the module docstring.

    ``quota``: the documented or configured quota (None for either rate: unknown, to be found).
    ``adaptive`` False turns every bound off except ``max_in_flight`` (``requests_per_second=0``).
    ``clock`` and ``sleep`` are seams for tests."""

    def __init__(
        self,
        quota: Quota | None = None,
        max_in_flight: int = 128,
        *,
        adaptive: bool = True,
        vendor: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        quota = quota or Quota()
        self.vendor = vendor
        self.adaptive = adaptive
        self.max_in_flight = max_in_flight
        self._clock = clock
        rps = quota.requests_per_second
        known = rps is not None and quota.exact
        start = rps if known else min(INITIAL_RATE, rps or INITIAL_RATE)
        self._requests = _Cubic(start if adaptive else None, rps, slow_start=not known)
        tps = quota.tokens_per_minute / 60 if quota.tokens_per_minute else None
        self._tokens = _Cubic(tps if adaptive else None, tps, slow_start=False)
        self._lock = threading.Lock()
        # the callers waiting in line, by ticket: a thread's event, or a task's loop and future
        self._waiters: dict[int, threading.Event | tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = {}
        self._next_request = 0.0  # GCRA theoretical arrival times
        self._next_tokens = 0.0
        self._paused_until = 0.0
        self._slots: set[Slot] = set()
        self._line: deque[int] = deque()  # tickets of the callers waiting for a place, in arrival order
        self._cuts = 0  # decreases so far: a send time claimed before the last one is claimed again
        self._polled: dict[int, float] = {}  # when each caller in line last looked for a place
        self._tickets = 0
        self._aimd_limit = float(max_in_flight)
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._sent_tokens = _Meter(QUOTA_WINDOW)
        self._admitted = _Meter(QUOTA_WINDOW)
        self._admitted_tokens = _Meter(QUOTA_WINDOW)
        self._token_ratio = 1.0  # reported tokens over estimated, learned from answers
        self.store: RateStore | None = None

    # -- what a reader (and a test) may look at ---------------------------------------------------

    @property
    def rate(self) -> float | None:
        """Requests per second now (None: no request pacing)."""
        return self._requests.rate

    @property
    def token_rate(self) -> float | None:
        """Tokens per second now (None: no token quota known yet)."""
        return self._tokens.rate

    @property
    def in_flight(self) -> int:
        with self._lock:
            self._reclaim(self._clock())
            return len(self._slots)

    @property
    def in_flight_limit(self) -> int:
        """Little's law: the rate times the latency estimate, within the AIMD and configured ceilings."""
        ceiling = max(1, min(self.max_in_flight, math.floor(self._aimd_limit)))
        if self._requests.rate is None:
            return ceiling
        latency = INITIAL_RTT if self._srtt is None else self._srtt + RTT_K * self._rttvar
        needed = math.ceil(self._requests.rate * latency) + 1
        return max(1, min(ceiling, needed))

    # -- taking a slot ----------------------------------------------------------------------------

    def acquire(
        self,
        cost: float = 0.0,
        stop: threading.Event | None = None,
        deadline: float | None = None,
        lease: float | None = None,
    ) -> Slot:
        """Wait (in this thread, at most ``deadline`` seconds) for a place in flight and for the
        send time the pacing gives. ``lease``: the attempt's own timeout; a slot not settled
        within twice that (LEASE_WITHOUT_DEADLINE without one) is reclaimed."""
        end = None if deadline is None else self._clock() + deadline
        slot = None
        woken = threading.Event()
        with self._lock:
            ticket = self._line_up(woken)
        try:
            while True:
                with self._lock:
                    slot = self._take(cost, lease or deadline, ticket)
                    woken.clear()
                if slot is not None:
                    break
                woken.wait(self._wait_slice(end, stop, WAKE_SLICE))
        finally:
            self._leave(ticket)
        try:
            wait = self._reserve(slot, self.store.reserve if self.store else None)
            while wait > 0:
                self._sleep_until_due(wait, end, stop)
                wait = self._resume_at(slot)
        except BaseException:
            self._settle(slot, "unused")
            raise
        return slot

    async def aacquire(
        self,
        cost: float = 0.0,
        stop: threading.Event | None = None,
        deadline: float | None = None,
        lease: float | None = None,
    ) -> Slot:
        """``acquire`` for a task: waits without blocking its event loop."""
        end = None if deadline is None else self._clock() + deadline
        loop = asyncio.get_running_loop()
        slot = None
        woken: asyncio.Future[None] = loop.create_future()
        with self._lock:
            ticket = self._line_up((loop, woken))
        try:
            while True:
                with self._lock:
                    slot = self._take(cost, lease or deadline, ticket)
                    if slot is None and woken.done():
                        woken = loop.create_future()
                        self._waiters[ticket] = (loop, woken)
                if slot is not None:
                    break
                timer = loop.call_later(self._wait_slice(end, stop, WAKE_SLICE), _resolve, woken)
                try:
                    await woken
                finally:
                    timer.cancel()
        finally:
            self._leave(ticket)
        try:
            wait = await self._areserve(slot)
            while wait > 0:
                await asyncio.sleep(self._wait_slice(end, stop, wait))
                wait = self._resume_at(slot)
        except BaseException:
            self._settle(slot, "unused")
            raise
        return slot

    def _line_up(self, waiter: threading.Event | tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]) -> int:
        """Under the lock: a place in the queue for a place in flight (first come, first served)."""
        ticket = self._tickets = self._tickets + 1
        self._line.append(ticket)
        self._waiters[ticket] = waiter
        self._polled[ticket] = self._clock()
        return ticket

    def _leave(self, ticket: int) -> None:
        """Leave the queue (served, stopped or late), and wake the caller now at its head."""
        with self._lock:
            self._line.remove(ticket)
            del self._waiters[ticket], self._polled[ticket]
        self._wake_head()

    def _head(self, now: float) -> int | None:
        """Under the lock: the first caller in line still looking. A waiter looks at least every
        WAKE_SLICE; one that has not for STALE_WAITER (its event loop was stopped, its thread is
        frozen) is passed over, so it cannot hold up callers elsewhere."""
        for ticket in self._line:
            if now - self._polled[ticket] <= STALE_WAITER:
                return ticket
        return None

    def _take(self, cost: float, deadline: float | None, ticket: int | None = None) -> Slot | None:
        """Under the lock: a place in flight, or None when every place is taken or others came first."""
        now = self._clock()
        self._reclaim(now)
        if ticket is not None:
            self._polled[ticket] = now
        if len(self._slots) >= self.in_flight_limit or ticket is not None and self._head(now) != ticket:
            return None
        slot = Slot(self, cost * self._token_ratio, now + (deadline or LEASE_WITHOUT_DEADLINE) * 2 + 1)
        self._slots.add(slot)
        return slot

    def _reserve(self, slot: Slot, remote: Callable[[float, float], float | None] | None) -> float:
        """GCRA: claim the next send time for ``slot``; returns the seconds until it is due."""
        interval, token_interval = self._intervals(slot.cost)
        if remote is not None and (interval or token_interval):
            wait = remote(interval, token_interval)
            if wait is not None:
                slot.sent_at = self._clock() + wait
                return max(wait, self._paused_for())
        with self._lock:
            now = self._clock()
            due = max(now, self._next_request, self._next_tokens, self._paused_until)
            if interval:
                self._next_request = max(self._next_request, now) + interval
            if token_interval:
                self._next_tokens = max(self._next_tokens, now) + token_interval
            slot.sent_at = due
            return due - now

    async def _areserve(self, slot: Slot) -> float:
        interval, token_interval = self._intervals(slot.cost)
        if self.store is not None and (interval or token_interval):
            wait = await self.store.areserve(interval, token_interval)
            if wait is not None:
                slot.sent_at = self._clock() + wait
                return max(wait, self._paused_for())
        return self._reserve(slot, None)

    def _intervals(self, cost: float) -> tuple[float, float]:
        """GCRA emission intervals for one request and its tokens, at JITTER_MARGIN under the rates."""
        requests, tokens = self._requests.rate, self._tokens.rate
        keep = 1 - JITTER_MARGIN
        return (1 / (requests * keep) if requests else 0.0, cost / (tokens * keep) if tokens and cost else 0.0)

    def _paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    def _resume_at(self, slot: Slot) -> float:
        """After waiting for the slot's send time: a pause that began meanwhile still holds it, and
        a send time claimed before the rate was lowered is claimed again at the new rate (it
        would otherwise go out at the rate just refused)."""
        with self._lock:
            now = self._clock()
            if slot.cuts != self._cuts and slot.sent_at > now and not self.store:
                slot.cuts = self._cuts
                interval, token_interval = self._intervals(slot.cost)
                slot.sent_at = max(now, self._next_request, self._next_tokens)
                self._next_request = max(self._next_request, now) + interval
                self._next_tokens = max(self._next_tokens, now) + token_interval
            return max(slot.sent_at - now, self._paused_until - now)

    def _wait_slice(self, end: float | None, stop: threading.Event | None, longest: float) -> float:
        """The next wait: at most ``longest``, ending at the deadline; raises once stopped or late."""
        if stop is not None and stop.is_set():
            raise Stopped("the call was stopped while waiting to send")
        if end is not None:
            left = end - self._clock()
            if left <= 0:
                error = APITimeoutError(
                    self.vendor, "no turn to send within the timeout (the quota or the requests in flight held it back)"
                )
                error.retryable = False
                raise error
            longest = min(longest, left)
        return max(longest, 0.0)

    def _sleep_until_due(self, wait: float, end: float | None, stop: threading.Event | None) -> None:
        seconds = self._wait_slice(end, stop, wait)
        if stop is not None:
            stop.wait(seconds)  # ends at once when the call is stopped
        else:
            time.sleep(seconds)

    def _reclaim(self, now: float) -> None:
        """Under the lock: forget slots whose lease has run out (never settled)."""
        expired = [slot for slot in self._slots if slot.expires < now]
        for slot in expired:
            self._slots.discard(slot)
            slot.settled = True

    # -- answers ----------------------------------------------------------------------------------

    def _settle(self, slot: Slot, outcome: str, tokens: int = 0, retry_after: float | None = None) -> None:
        with self._lock:
            if slot.settled:
                return
            slot.settled = True
            self._slots.discard(slot)
            now = self._clock()
            if outcome != "unused" and self.adaptive:
                self._learn(slot, outcome, now, tokens, retry_after)
        self._wake_head()

    def _wake_head(self) -> None:
        """Tell the caller at the head of the line (a thread, or a task on its own loop) to look
        again: only it may take the next place."""
        with self._lock:
            head = self._head(self._clock())
            waiter = self._waiters.get(head) if head is not None else None
        if isinstance(waiter, threading.Event):
            waiter.set()
        elif waiter is not None:
            try:
                waiter[0].call_soon_threadsafe(_resolve, waiter[1])
            except RuntimeError:  # its loop has closed: its lease will end
                pass

    def _learn(self, slot: Slot, outcome: str, now: float, tokens: int, retry_after: float | None) -> None:
        """Under the lock: what one answer says about the quota."""
        if slot.cost:  # tokens sent, as their answers come: the token send rate, one round trip late
            self._sent_tokens.add(now, slot.cost)
        if outcome == "failed":
            return
        self._observe_rtt(now - slot.sent_at)
        if retry_after and retry_after <= MAX_RETRY_AFTER:  # a longer wait fails the call instead (_retry)
            self._paused_until = max(self._paused_until, now + retry_after)
        round_seconds = max(self._srtt or 0.0, QUOTA_WINDOW)
        if outcome == "accepted":
            self._admitted.add(now)
            if tokens and slot.cost:
                estimated = slot.cost / self._token_ratio
                self._token_ratio += RTT_ALPHA * (tokens / estimated - self._token_ratio)
                if self._tokens.rate:  # GCRA correction: the bucket pays for what was really used
                    self._next_tokens += (tokens - slot.cost) / self._tokens.rate
            if tokens:
                self._admitted_tokens.add(now, tokens)
            busy = (len(self._slots) + 1) * 2 >= self.in_flight_limit  # this slot counted: it was in use
            self._requests.accepted(now, busy, round_seconds)
            self._tokens.accepted(now, busy, round_seconds)
            if busy:
                self._aimd_limit = min(self._aimd_limit + 1, self.max_in_flight)
        elif outcome in ("requests", "tokens"):
            # with a shared store this process admits only its share: the rate sent at is the measure
            local = self.store is None
            if outcome == "requests":
                admitted = self._admitted.rate(now) if local else None
                cut = self._requests.refused(now, slot.sent_at, slot.rate, admitted, round_seconds)
            else:
                sent = slot.token_rate or (self._sent_tokens.rate(now) if local else None)
                admitted = self._admitted_tokens.rate(now) if local else None
                cut = self._tokens.refused(now, slot.sent_at, sent, admitted, round_seconds)
            if cut:  # the send times claimed at the old rate are claimed again (see _resume_at)
                self._cuts += 1
                self._next_request = self._next_tokens = now
        elif outcome == "in_flight":
            self._aimd_limit = max(1.0, min(self._aimd_limit, len(self._slots) + 1) * AIMD_BACKOFF)

    def _observe_rtt(self, sample: float) -> None:
        sample = max(sample, 0.0)
        if self._srtt is None:
            self._srtt, self._rttvar = sample, sample / 2
        else:
            self._rttvar += RTT_BETA * (abs(self._srtt - sample) - self._rttvar)
            self._srtt += RTT_ALPHA * (sample - self._srtt)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], RateController] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_controller(key: tuple[Any, ...], quota: Quota, max_in_flight: int) -> RateController:
    """The process-wide controller of one quota (``key``: vendor, host, account hash, model).

    Clients that configure another quota or ceiling get one of their own: both are part of the
    key. A controller lives as long as some client holds it."""
    full = (*key, quota.requests_per_second, quota.tokens_per_minute, max_in_flight)
    with _SHARED_LOCK:
        controller = _SHARED.get(full)
        if controller is None:
            controller = RateController(quota, max_in_flight, vendor=str(key[0]))
            _SHARED[full] = controller
        return controller
