"""The rate controller of one quota: the named parts composed, a pure core, two waiting loops.

The core is three calls on an injected clock's time, with no waiting in them:

- ``try_take(cost, now)``: a place in flight and a claimed send time, or None (all places taken,
  or another caller came first);
- ``due(slot, now)``: seconds until the slot may be sent (a decrease since it was claimed claims
  it again at the new rate; a pause the vendor asked for holds it);
- ``settle(slot, outcome, now)``: what the answer (an :class:`Outcome`) says about the quota.

``acquire`` and ``aacquire`` (``_waiting``) are short loops over them; the fake-clock simulation
and the tests drive the core directly. Every slot taken must be settled exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .._retry import MAX_RETRY_AFTER
from ._delivery import Sent
from ._inflight import InFlightLimit
from ._learner import FLOOR, INITIAL_BURST, WINDOW, RateLearner, Source
from ._line import Line, wake
from ._pacer import Pacer
from ._rtt import RttEstimator
from ._slot import LEASE_WITHOUT_DEADLINE, Slot
from ._types import Labels, Outcome, Quota, RateStore, Stats
from ._waiting import Waiting

__all__ = ["Outcome", "Quota", "RateController", "RateStore", "Stats"]

log = logging.getLogger("cn_embeddings")


class RateController(Waiting):
    """The rate, token and in-flight bounds of one quota (see the package docstring).

    ``quota``: the quota as ``resolve`` found it (None for either rate: unknown, to be found).
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
        identity: str = "",
    ) -> None:
        quota = quota or Quota(origin=Source.NONE)
        self.labels, self.adaptive, self.clock = Labels(vendor, model, server, identity), adaptive, clock
        rps = quota.requests_per_second if adaptive else None
        if rps is not None and not quota.exact:  # an upper bound: the start finds the quota under it
            self.requests = RateLearner(None, source=Source.LEARNED, ceiling=rps, start=True)
        elif rps is None:
            source = Source.LEARNED if adaptive else Source.NONE
            self.requests = RateLearner(None, source=source, start=adaptive)
        else:
            self.requests = RateLearner(rps, source=quota.origin, now=clock())
        tps = quota.tokens_per_minute / 60 if quota.tokens_per_minute and adaptive else None
        self.tokens = RateLearner(tps, source=quota.origin if tps else Source.NONE, now=clock())
        self.pacer = Pacer(free=INITIAL_BURST if self.requests.starting else 0)
        self.limit = InFlightLimit(max_in_flight, slow_start=self.requests.starting)
        self.rtt, self.line, self.sent = RttEstimator(), Line(), Sent()
        self.store: RateStore | None = None
        self.remember: Callable[[float], None] | None = None  # keeps a learned rate for later runs
        self._lock = threading.Lock()
        self._slots: set[Slot] = set()
        self._refused = 0

    # -- what a reader may look at ----------------------------------------------------------------

    @property
    def source(self) -> Source:
        return self.requests.source

    @property
    def rate(self) -> float | None:
        """Requests per second now (None: no request pacing)."""
        return self.requests.rate if self.adaptive else None

    @property
    def token_rate(self) -> float | None:
        """Tokens per second now (None: no token quota known yet)."""
        return self.tokens.rate

    @property
    def in_flight(self) -> int:
        with self._lock:
            self._reclaim(self.clock())
            return len(self._slots)

    @property
    def in_flight_limit(self) -> int:
        return self.limit.limit(self.rate, self.rtt.latency)

    def stats(self) -> Stats:
        with self._lock:
            requests, slots = self.requests, len(self._slots)
            cuts = requests.cuts + self.tokens.cuts
            return Stats(self.rate, self.token_rate, requests.source, requests.starting, slots,
                         self.in_flight_limit, self._refused, cuts, len(self.line.queue))  # fmt: skip

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
            price = cost * self.pacer.ratio  # tokens, as the answers taught to price them
            slot = Slot(self, cost, price, now, lease or LEASE_WITHOUT_DEADLINE, self._claim(now, price))
            self._slots.add(slot)
            self.sent.add(slot, now)
            if ticket is not None:
                self.line.served(ticket)
            return slot

    def due(self, slot: Slot, now: float) -> float:
        """Seconds until ``slot`` may be sent. A send time claimed before the last decrease and not
        reached when it came is claimed again at the new rate (after a pause the vendor asked for)."""
        with self._lock:
            if slot.claimed < self.pacer.restarted < slot.sent_at and not slot.remote:
                slot.sent_at, slot.claimed = self._claim(now, slot.cost), now
                slot.rate, slot.token_rate = self.rate, self.token_rate
            return max(slot.sent_at - now, 0.0)

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
        with self._lock:
            if slot.settled:
                return
            slot.settled = True
            self._slots.discard(slot)
            # a pause the vendor asked for (a longer one than MAX_RETRY_AFTER fails the call: _retry)
            pause = retry_after if retry_after and retry_after <= MAX_RETRY_AFTER else 0.0
            cut = self.adaptive and outcome is not Outcome.UNUSED and self._learn(slot, outcome, now, tokens, pause)
            slot.refused = slot.refused or outcome is Outcome.UNUSED  # not sent: no part of an admitted rate
            wakers = list(self.line.wakers.values()) if cut else [self.line.head_waker(now)]
            remembered = self.requests.best if cut and self.requests.source is Source.LEARNED else 0.0
        for waker in wakers:
            wake(waker)
        if cut:
            log.info("%s %s: quota refusal; pacing at %s requests/s (source: %s)",
                     *self.labels[:2], _shown(self.rate), self.source.value)  # fmt: skip
        if cut and pause:
            log.info("%s %s: pausing %.2f s, as the vendor asked (Retry-After)", *self.labels[:2], retry_after)
        if remembered and self.remember is not None:  # file or Redis I/O: never on the caller's event loop
            threading.Thread(
                target=self.remember, args=(remembered,), name="cn-embeddings-remember", daemon=True
            ).start()

    def tell(self, quota: Quota, now: float) -> bool:
        """A quota the vendor's answer told (rate-limit headers); returns whether it changed the pacing."""
        with self._lock:
            changed = False
            if quota.requests_per_second and self.adaptive:
                changed = self.requests.tell(quota.requests_per_second, quota.origin, now)
            if quota.tokens_per_minute and self.adaptive:
                changed = self.tokens.tell(quota.tokens_per_minute / 60, quota.origin, now) or changed
            if changed:
                self.limit.end_slow_start()
                self._restart(now)
            wakers = list(self.line.wakers.values()) if changed else []
        for waker in wakers:
            wake(waker)
        if changed:
            log.info("%s %s: pacing at %s requests/s (source: %s, from the answer's rate-limit headers)",
                     *self.labels[:2], _shown(self.rate), self.source.value)  # fmt: skip
        return changed

    # -- under the lock ---------------------------------------------------------------------------

    def _claim(self, now: float, cost: float) -> float:
        interval = self.requests.interval() if self.adaptive else 0.0
        return self.pacer.claim(now, interval, self.tokens.interval(cost))

    def _reclaim(self, now: float) -> None:
        """Forget slots whose lease has run out (never settled: a stopped loop, a killed thread)."""
        for slot in [slot for slot in self._slots if slot.expires < now]:
            self._slots.discard(slot)
            slot.settled = True

    def _learn(self, slot: Slot, outcome: Outcome, now: float, tokens: int, pause: float) -> bool:
        """What one answer says about the quota (``OUTCOMES`` in the docs); returns whether a rate fell."""
        if outcome is Outcome.FAILED:
            return False
        self.rtt.observe(now - slot.sent_at)
        if outcome is Outcome.ACCEPTED:
            self.pacer.answered(slot.estimate, tokens)
            slot.cost = float(tokens) or slot.cost  # what the window admitted, as the vendor counts it
            self.requests.accepted(now, slot.sent_at)
            self.tokens.accepted(now, slot.sent_at, slot.cost)
            # the window grows only while the caller uses it: half the places taken, this one counted
            self.limit.accepted((len(self._slots) + 1) * 2 >= self.in_flight_limit, now)
            return False
        if outcome is Outcome.REFUSED_IN_FLIGHT:
            self.limit.refused_in_flight(len(self._slots) + 1, slot.sent_at, now)
        if outcome not in (Outcome.REFUSED_REQUESTS, Outcome.REFUSED_TOKENS):
            return False
        slot.refused = True
        self._refused += 1
        requests = outcome is Outcome.REFUSED_REQUESTS
        learner = self.requests if requests else self.tokens
        # with a shared store this process admits only its share: the refusal alone says to slow down
        admitted = self.sent.admitted(slot, not requests) if self.store is None else 0.0
        if not learner.refused(now, slot.sent_at, slot.rate if requests else slot.token_rate, admitted):
            return False
        self.limit.end_slow_start()
        if not requests and self.requests.starting:  # a token quota said no: the start is over, at its rate
            self.requests.hold(self.requests.rate or FLOOR, now)
        self._restart(now, pause)
        return True

    def _restart(self, now: float, pause: float = 0.0) -> None:
        """Pacing at a lower rate resumes once the last window's sends, refused ones included (some
        windows count them), leave room for it (BBR's drain, for a window instead of a queue), and
        not before a pause the vendor asked for is over. Send times claimed before are claimed
        again from there, evenly, not let out at once."""
        rate = self.requests.rate
        drain = max(self.sent.in_window(now) - rate * WINDOW, 0.0) / rate if rate else 0.0
        self.pacer.restart(now + max(drain, pause), now)


def _shown(rate: float | None) -> str:
    return "no" if rate is None else f"{rate:.3g}"
