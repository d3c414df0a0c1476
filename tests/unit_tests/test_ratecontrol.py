"""The rate controller's named parts and their composition on a fake clock, and the retry flow
driven by hand (no transport). Everything here goes through public methods."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading
import time

import httpx
import pytest

from cn_embeddings import RateLimitError
from cn_embeddings._exceptions import BatchFailed
from cn_embeddings._flow import Cancel, Send, Sender, Sleep, batch_flow, run_async, run_sync
from cn_embeddings._ratecontrol import Outcome, Quota, RateController, Source, told_quota
from cn_embeddings._ratecontrol._inflight import INITIAL_WINDOW, InFlightLimit
from cn_embeddings._ratecontrol._learner import (
    BETA,
    HOLD,
    INITIAL_BURST,
    JITTER_MARGIN,
    SCALE,
    START_RATE,
    STARTUP_GAIN,
    STATED_STEP,
    RateLearner,
)
from cn_embeddings._ratecontrol._memory import FileMemory
from cn_embeddings._ratecontrol._pacer import Gcra
from cn_embeddings._ratecontrol._rtt import RttEstimator
from cn_embeddings._retry import Decision, RetryPolicy
from cn_embeddings._telemetry import Labels
from cn_embeddings._types import BatchResult
from cn_embeddings.testing._quotas import QuotaRule
from cn_embeddings.vendors._common import http_error

from .ratesim import bound, simulate

KNOWN = Quota(10.0, origin=Source.CONFIGURED)


def _controller(quota: Quota | None = None, **kwargs):
    now = [0.0]
    return RateController(quota, clock=lambda: now[0], **kwargs), now


def _take(controller, now, cost: float = 0.0):
    slot = controller.try_take(cost, now[0])
    assert slot is not None
    return slot


# -- the parts ------------------------------------------------------------------------------------


def test_gcra_spaces_claims_by_their_interval_after_its_free_burst():
    pacer = Gcra(free=2)
    assert [pacer.claim(0.0, 0.1) for _ in range(4)] == pytest.approx([0.0, 0.0, 0.1, 0.2])
    assert pacer.claim(5.0, 0.1) == 5.0  # idle time is not saved up: no burst later
    pacer.restart(7.0)
    assert pacer.claim(6.0, 0.1) == 7.0


def test_rtt_estimator_follows_rfc_6298():
    rtt = RttEstimator()
    assert rtt.latency == 1.0  # before any answer
    rtt.observe(0.2)
    assert (rtt.srtt, rtt.rttvar) == pytest.approx((0.2, 0.1))
    rtt.observe(0.4)
    assert rtt.srtt == pytest.approx(0.2 + (0.4 - 0.2) / 8)
    assert rtt.rttvar == pytest.approx(0.1 + (0.2 - 0.1) / 4)
    assert rtt.latency == pytest.approx(rtt.srtt + 4 * rtt.rttvar)
    assert rtt.spread == 0.0 and rtt.least is None  # no accepted answer yet
    for now, sample in ((0.0, 0.3), (1.0, 0.27), (2.0, 0.33)):
        rtt.accepted(sample, now)
    assert rtt.spread == pytest.approx(0.06)
    assert rtt.least == 0.27  # BBR's RTprop: the least of the last 10 s
    rtt.accepted(0.45, 11.5)  # answers waiting for a busy caller: the 10 s-old least is gone
    assert rtt.least == 0.33


def test_in_flight_limit_slow_start_then_littles_law_then_aimd():
    limit = InFlightLimit(ceiling=64, slow_start=True)
    assert limit.limit(None, 1.0) == INITIAL_WINDOW
    limit.accepted(busy=True)
    limit.accepted(busy=False)  # an idle caller's answer says nothing: no growth
    assert limit.limit(None, 1.0) == INITIAL_WINDOW + 1
    limit.end_slow_start()
    assert limit.limit(20.0, 0.5) == 11  # 20/s x 0.5 s + 1
    limit.refused_in_flight(in_flight=30)
    assert limit.aimd == pytest.approx(27.0)
    assert limit.limit(100.0, 1.0) == 27


def test_slow_start_stops_growing_once_the_delivery_rate_does():
    """BBR's full-pipe check: three round trips with the delivery rate up less than 25% and the
    window stops growing; the bound is then Little's law on the start's pacing rate, never under
    the initial window (a caller's own CPU, not the vendor, may be what stopped the growth)."""
    limit = InFlightLimit(ceiling=128, slow_start=True)
    for delivered in (100.0, 200.0, 240.0, 290.0, 300.0, 310.0):  # a stall (240) is undone by growth (290)
        limit.round_trip(delivered)
    assert not limit.full  # two rounds under 1.25 x 290
    for _ in range(60):
        limit.accepted(busy=True)
    assert limit.limit(600.0, 0.05) == INITIAL_WINDOW + 60  # growing: the window, not Little's law
    limit.round_trip(320.0)
    assert limit.full  # the third
    limit.accepted(busy=True)
    assert limit.limit(600.0, 0.05) == 31  # 600/s x 50 ms + 1, under the window of 76
    assert limit.limit(60.0, 0.05) == INITIAL_WINDOW
    assert limit.limit(None, 0.05) == INITIAL_WINDOW + 60  # no rate yet: the window, which stopped


def test_the_start_paces_by_bbr_startup_from_the_delivery_rate():
    learner = RateLearner(None, ceiling=None, source=Source.LEARNED, start=True)
    assert learner.rate == START_RATE
    learner.ramp(delivered=100.0)
    assert learner.rate == pytest.approx(STARTUP_GAIN * 100.0)
    learner.ramp(delivered=1.0)
    assert learner.rate == START_RATE  # never below the start rate
    bounded = RateLearner(None, ceiling=250.0, source=Source.LEARNED, start=True)
    bounded.ramp(delivered=1000.0)
    assert bounded.rate == 250.0  # a published upper bound caps the start


def test_the_first_refusal_holds_the_admitted_rate_then_cubic_probes_above_it():
    learner = RateLearner(None, ceiling=None, source=Source.LEARNED, start=True)
    assert learner.refused(now=1.0, sent_at=0.9, sent_rate=500.0, admitted=12.0)
    assert (learner.rate, learner.starting) == (12.0, False)
    k = (12.0 * (1 - BETA) / SCALE) ** (1 / 3)
    learner.accepted(1.0 + HOLD + k, busy=True)
    assert learner.rate == pytest.approx(12.0)  # flat at W_max until HOLD + K
    learner.accepted(1.0 + HOLD + k + 2.0, busy=True)
    assert learner.rate == pytest.approx(12.0 + SCALE * 2.0**3)
    learner.accepted(1.0 + HOLD + k + 3.0, busy=False)
    assert learner.rate == pytest.approx(12.0 + SCALE * 2.0**3)  # an idle caller: no growth


def test_refusals_within_a_window_of_the_cut_only_refine_it():
    learner = RateLearner(None, ceiling=None, source=Source.LEARNED, start=True)
    learner.refused(now=1.0, sent_at=0.9, sent_rate=500.0, admitted=62.0)
    assert not learner.refused(now=1.1, sent_at=1.0, sent_rate=62.0, admitted=60.0)
    assert learner.rate == 60.0  # the same decrease, measured better
    assert not learner.refused(now=1.2, sent_at=1.05, sent_rate=60.0, admitted=1.0)
    assert learner.rate == pytest.approx(62.0 * BETA)  # never below the first measure's floor
    assert learner.refused(now=3.0, sent_at=2.5, sent_rate=60.0, admitted=50.0)  # a window later: a new cut


def test_a_probe_refused_returns_to_the_plateau_that_held():
    learner = RateLearner(None, ceiling=None, source=Source.LEARNED, start=True)
    learner.refused(now=0.0, sent_at=0.0, sent_rate=500.0, admitted=10.0)
    learner.accepted(HOLD + 10.0, busy=True)
    assert learner.rate > 10.0
    assert learner.refused(now=HOLD + 10.0, sent_at=HOLD + 9.9, sent_rate=learner.rate, admitted=0.5)
    assert learner.rate == 10.0


def test_a_learned_rate_refused_though_its_window_admitted_at_least_its_rate_steps_down():
    """A vendor deciding as answers leave bunches evenly paced requests (their latencies 60 ms
    apart): the window before a refusal admitted at least its rate, so the rate is not above the quota
    and measuring it again would hold it where it is refused. It steps down as a stated quota
    does, once a window, never below the measured quota less the spread per window; a window
    that admitted less than it sent is measured as before."""
    learner = RateLearner(None, ceiling=None, source=Source.LEARNED, start=True)
    learner.refused(now=0.3, sent_at=0.0, sent_rate=60.0, admitted=10.0)
    assert learner.rate == 10.0
    assert learner.refused(now=2.3, sent_at=2.0, sent_rate=10.0, admitted=10.0, spread=0.06)
    assert learner.rate == pytest.approx(10.0 * STATED_STEP)
    # within a window of the step, a refusal belongs to it: a step is no measure to refine (a
    # window counting refused requests admits one less for each)
    assert not learner.refused(now=2.5, sent_at=2.2, sent_rate=learner.rate, admitted=9.0, spread=0.06)
    assert learner.rate == pytest.approx(10.0 * STATED_STEP)
    assert learner.refused(now=4.3, sent_at=4.0, sent_rate=learner.rate, admitted=10.0, spread=0.06)
    assert learner.rate == pytest.approx(10.0 * (1 - 0.06))  # the safe rate, not another full step
    assert learner.refused(now=6.3, sent_at=6.0, sent_rate=learner.rate, admitted=10.0, spread=0.06)
    assert learner.rate == pytest.approx(10.0 * (1 - 0.06))  # there it holds
    assert learner.refused(now=8.3, sent_at=8.0, sent_rate=learner.rate, admitted=8.0, spread=0.06)
    assert learner.rate == 8.0  # a window that admitted less than it sent: measured
    assert learner.source is Source.LEARNED


def test_a_told_quota_is_paced_at_once_and_never_raises_a_configured_one():
    learner = RateLearner(None, ceiling=None, source=Source.LEARNED, start=True)
    assert learner.tell(8.0, Source.TOLD, limit=None)
    assert (learner.rate, learner.ceiling, learner.starting, learner.source) == (8.0, 8.0, False, Source.TOLD)
    assert not learner.tell(8.0, Source.TOLD, limit=None)  # the same header on every answer: nothing new
    configured = RateLearner(5.0, ceiling=5.0, source=Source.CONFIGURED, start=False)
    configured.tell(8.0, Source.TOLD, limit=5.0)
    assert configured.rate == 5.0


@pytest.mark.parametrize(
    ("headers", "rps", "tpm"),
    [
        ({"X-Ratelimit-Limit-Requests": "600", "X-Ratelimit-Limit-Tokens": "300000"}, 10.0, 300000.0),
        ({"x-ratelimit-limit-requests": "120"}, 2.0, None),  # OpenAI's spelling, per minute too
        ({"RateLimit-Policy": "10;w=1, 1000;w=3600"}, 1000 / 3600, None),  # the draft's early form
        ({"RateLimit-Policy": '"burst";q=100;w=60, "bytes";q=9;w=1;qu="content-bytes"'}, 100 / 60, None),
        ({"X-Ratelimit-Limit-Requests": "nonsense"}, None, None),
        ({}, None, None),
    ],
)
def test_told_quota_reads_the_rate_limit_headers(headers, rps, tpm):
    told = told_quota(httpx.Headers(headers))
    if rps is None and tpm is None:
        assert told is None
    else:
        assert told is not None and told.origin is Source.TOLD
        assert told.requests_per_second == pytest.approx(rps) if rps else told.requests_per_second is None
        assert told.tokens_per_minute == tpm


def test_a_remembered_rate_is_kept_atomically_expires_and_holds_no_secret(tmp_path, monkeypatch):
    memory = FileMemory(("qianfan", "host", "account-hash", "embedding-v1"), tmp_path)
    assert memory.recall() is None
    memory.keep(12.5)
    assert memory.recall() == 12.5
    stored = json.loads((tmp_path / "quotas.json").read_text())
    assert list(stored) == ["qianfan/host/account-hash/embedding-v1"]
    assert set(stored["qianfan/host/account-hash/embedding-v1"]) == {"rate", "at"}
    later = time.time() + 2 * 86_400
    monkeypatch.setattr(time, "time", lambda: later)
    assert memory.recall() is None  # expired


def _keep_many(folder: str, index: int) -> None:
    for n in range(20):
        FileMemory(("ark", "h", "a", f"model-{index}"), __import__("pathlib").Path(folder)).keep(float(n + 1))


def test_concurrent_processes_keep_every_entry(tmp_path):
    processes = [
        multiprocessing.get_context("spawn").Process(target=_keep_many, args=(str(tmp_path), i)) for i in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    stored = json.loads((tmp_path / "quotas.json").read_text())
    assert sorted(stored) == [f"ark/h/a/model-{i}" for i in range(4)]
    assert all(entry["rate"] == 20.0 for entry in stored.values())


# -- the composition ------------------------------------------------------------------------------


def test_a_cold_start_sends_its_burst_at_once_then_paces_at_the_start_rate():
    controller, now = _controller()
    slots = [_take(controller, now) for _ in range(INITIAL_BURST + 2)]
    assert [controller.due(s, 0.0) for s in slots[:INITIAL_BURST]] == [0.0] * INITIAL_BURST
    interval = 1 / (START_RATE * (1 - JITTER_MARGIN))
    assert controller.due(slots[INITIAL_BURST], 0.0) == pytest.approx(interval)
    assert controller.due(slots[INITIAL_BURST + 1], 0.0) == pytest.approx(2 * interval)
    assert controller.stats().starting and controller.source is Source.LEARNED


def test_a_known_quota_is_paced_from_the_first_request():
    controller, now = _controller(KNOWN)
    slots = [_take(controller, now) for _ in range(3)]
    interval = 1 / (10.0 * (1 - JITTER_MARGIN))
    assert [controller.due(s, 0.0) for s in slots] == pytest.approx([0.0, interval, 2 * interval])
    assert controller.source is Source.CONFIGURED


def test_send_times_claimed_before_a_decrease_are_claimed_again_at_the_new_rate():
    """A waiter that sleeps its whole wait and looks again only once due still goes out at the new
    rate (the previous controller re-claimed only while the old send time was still ahead)."""
    controller, now = _controller(Quota(100.0, origin=Source.REMEMBERED))  # a learned rate: cut deep
    early = [_take(controller, now) for _ in range(5)]
    waiting = [_take(controller, now) for _ in range(20)]
    old_due = controller.due(waiting[-1], 0.0)
    now[0] = 0.01
    controller.settle(early[0], Outcome.REFUSED_REQUESTS, now[0])
    assert controller.rate < 100.0
    for slot in waiting[:-1]:  # woken by the decrease, they claim again at once
        controller.due(slot, now[0])
    now[0] = old_due + 0.001  # the last waiter looks only when its old send time has passed
    assert controller.due(waiting[-1], now[0]) > 0.02  # claimed again, behind the others, at the lower rate


def test_a_decrease_measured_again_lower_claims_the_waiting_send_times_again():
    """Refusals of requests sent before the decrease, answered after it, measure it again; a lower
    measure moves the send times already claimed at the first one (they went out at the higher rate
    before, and a window counting refused requests stayed overrun)."""
    controller, now = _controller()
    sent = []
    for i in range(14):  # the start: well above what the vendor admits
        now[0] = i * 0.01
        slot = _take(controller, now)
        now[0] = max(now[0], now[0] + controller.due(slot, now[0]))
        sent.append(slot)
    now[0] = 0.3
    for slot in sent[:4] + sent[5:8]:
        controller.settle(slot, Outcome.ACCEPTED, now[0])
    controller.settle(sent[8], Outcome.REFUSED_REQUESTS, now[0])  # the decrease, at the admitted rate
    for slot in sent[9:]:
        controller.settle(slot, Outcome.FAILED, now[0])
    first = controller.rate
    waiting = [_take(controller, now) for _ in range(3)]
    controller.settle(sent[4], Outcome.REFUSED_REQUESTS, now[0] + 0.01)  # answered late: fewer were admitted
    assert controller.rate < first
    times = [now[0] + 0.01 + controller.due(slot, now[0] + 0.01) for slot in waiting]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 1 / (controller.rate * (1 - JITTER_MARGIN)) - 1e-9, (first, controller.rate, gaps)


def test_a_decrease_is_not_measured_again_once_its_window_has_left_the_record():
    """10/s, a whole second's latency, refusals answered as late: the first refusal measures the
    quota, and refusals of requests sent in the same window, answered a latency later, belong to it.
    Once the requests of the window it was measured over are no longer on record, measuring it again
    counted none of them, and the rate fell to its floor (0.84 of the quota, held for the job)."""
    rule = QuotaRule("moving", 10)
    run, controller = simulate(rule, jobs=200, latency=1.0, refuse_after=None, seed=0)
    assert controller.rate is not None and controller.rate >= 0.95 * 10, controller.rate
    assert bound(rule, 200) / run.seconds >= 0.9


def test_a_learned_rate_resumes_once_the_window_holding_what_the_refused_rate_sent_has_room():
    """Refusals answered a whole latency late, under a window that counts refused requests (10/s,
    1 s): until the first refusal came back the start sent at its own rate, and those requests
    stay in the window for a second. Pacing at the new rate at once found it full, each refusal
    was counted in turn, and the rate was cut again to 7/s (0.68 of the bound). Pacing resumes
    once the window has room for it with all of them still in it."""
    rule = QuotaRule("counting", 10)
    run, controller = simulate(rule, jobs=200, latency=1.0, refuse_after=None, seed=0)
    assert controller.rate is not None and controller.rate >= 0.95 * 10, controller.rate
    assert bound(rule, 200) / run.seconds >= 0.9
    assert run.refused_share <= 0.05


def test_a_decrease_is_measured_again_at_the_first_refused_request_sent():
    """Refusals answered a whole latency late come back out of order (20% jitter). Measured again
    at the refused request that came back first, the window before it holds fewer admitted
    requests the later that one was sent (60/s under a window counting refused requests, 1 s: the
    rate fell to 57/s, held for the job and remembered); measured at the first refused request
    sent, the window before it holds the quota."""
    rule = QuotaRule("counting", 60)
    run, controller = simulate(rule, jobs=1200, latency=1.0, refuse_after=None, seed=1)
    assert controller.rate == pytest.approx(60, abs=1)


def test_a_stated_quota_refused_steps_down_never_below_what_the_latency_spread_makes_safe():
    """A configured quota refused (a vendor counting answers as they leave, their latencies 60 ms
    apart): a step down, not a measure of the admitted rate (which says nothing about a stated
    quota); refusals within a window of it change nothing; the next window's steps down again,
    never below the quota less the spread per window."""
    controller, now = _controller(KNOWN)

    def answer(outcome: Outcome, latency: float) -> None:
        slot = _take(controller, now)
        now[0] += controller.due(slot, now[0])
        sent = now[0]
        now[0] += latency
        controller.settle(slot, outcome, now[0])
        now[0] = sent  # the next request goes out after this one, not after its answer

    for latency in (0.3, 0.27, 0.33, 0.3):
        answer(Outcome.ACCEPTED, latency)
    answer(Outcome.REFUSED_REQUESTS, 0.3)
    assert controller.rate == pytest.approx(10.0 * STATED_STEP)
    answer(Outcome.REFUSED_REQUESTS, 0.3)  # sent within a window of the decrease: the same one
    assert controller.rate == pytest.approx(10.0 * STATED_STEP)
    now[0] += 1.0
    answer(Outcome.REFUSED_REQUESTS, 0.3)
    assert controller.rate == pytest.approx(10.0 * (1 - 0.06))  # the safe rate, not another full step
    assert controller.source is Source.CONFIGURED


def test_after_a_decrease_tokens_resume_paced_not_in_a_burst_of_what_the_pause_saved():
    """A token quota refused (100 tokens/s configured, a window holding 100): pacing resumes once
    the window has room, for the token pacer as for the request pacer. Restarted at the refusal
    instead, the token pacer counted the pause as unused tokens, and the first requests after it
    went out in a burst (0.09 s apart where 50 tokens take half a second)."""
    controller, now = _controller(Quota(1000.0, 6000, origin=Source.CONFIGURED))
    first = _take(controller, now, cost=50.0)
    assert controller.due(first, 0.0) == 0.0
    now[0] = 0.51
    second = _take(controller, now, cost=50.0)
    assert controller.due(second, now[0]) == pytest.approx(0.0, abs=0.01)
    now[0] = 0.6
    controller.settle(second, Outcome.REFUSED_TOKENS, now[0])
    rate = controller.token_rate
    assert rate is not None and rate < 100.0
    third, fourth = _take(controller, now, cost=50.0), _take(controller, now, cost=50.0)
    resumed = now[0] + controller.due(third, now[0])
    assert resumed > 1.0  # the first request's 50 tokens leave the window at 1.0
    assert now[0] + controller.due(fourth, now[0]) - resumed >= 50.0 / (rate * (1 - JITTER_MARGIN)) - 1e-9


def test_a_learned_rate_drains_what_was_sent_past_the_refused_request():
    """A refusal answered a whole latency late: every request sent at the refused rate meanwhile
    was refused too, and a window that counts refusals still holds them, so pacing resumes only
    once they would have gone at the new rate (BBR's drain), at most a window after the refused
    one. A known quota is not drained (its refusals come from jitter, not from its rate)."""
    for quota, drained in ((None, True), (KNOWN, False)):
        controller, now = _controller(quota)
        slots = []
        for i in range(10):  # as fast as the start allows: well above what the vendor admits
            now[0] = i * 0.01
            slot = _take(controller, now)
            slots.append(slot)
            now[0] = max(now[0], controller.due(slot, now[0]))
        refused = slots[5]
        now[0] += 0.05  # its refusal comes back a whole latency late
        for slot in slots[:5]:
            controller.settle(slot, Outcome.ACCEPTED, now[0])
        for slot in slots[5:]:  # refused too: the same decrease
            controller.settle(slot, Outcome.REFUSED_REQUESTS, now[0])
        since = sum(1 for slot in slots if slot.sent_at >= refused.sent_at)
        drain = refused.sent_at + min(since / controller.rate, 1.0)
        sent_at = now[0] + controller.due(_take(controller, now), now[0])
        assert (sent_at >= drain - 1e-9) is drained, (quota, sent_at, drain)


def test_overload_and_retry_after_pause_without_lowering_the_rate():
    controller, now = _controller(KNOWN)
    controller.settle(_take(controller, now), Outcome.OVERLOADED, 0.0, retry_after=2.0)
    assert controller.rate == 10.0
    paused = _take(controller, now)
    assert controller.due(paused, 0.0) == pytest.approx(2.0)
    controller.settle(paused, Outcome.FAILED, 0.0)
    now[0] = 2.0
    controller.settle(_take(controller, now), Outcome.OVERLOADED, 2.0, retry_after=600.0)
    assert controller.due(_take(controller, now), 2.0) < 1.0  # above the cap: that call fails instead


def test_a_slot_never_settled_is_reclaimed_after_its_lease():
    controller, now = _controller(Quota(origin=Source.NONE), max_in_flight=1, adaptive=False)
    assert controller.try_take(0.0, 0.0, lease=1.0) is not None
    assert controller.try_take(0.0, 0.0) is None
    assert controller.try_take(0.0, 3.5) is not None  # the first lease (2 x 1 s + 1) ran out


def test_the_answer_corrects_the_token_estimate():
    controller, now = _controller(Quota(None, 60_000, origin=Source.CONFIGURED))
    for _ in range(40):
        controller.settle(_take(controller, now, cost=100.0), Outcome.ACCEPTED, now[0], tokens=50)
    assert _take(controller, now, cost=100.0).cost == pytest.approx(50.0, rel=0.1)


def test_a_told_quota_resumes_once_the_window_has_room_and_a_later_refusal_keeps_that():
    """A cold start sent its burst and a few more before the first answer told 10/s: pacing
    resumes once the window holding them has room (the ninth latest has left it, a second after
    the burst), not as if all of them had gone at 10/s (1.6 s); a refusal answered after that
    restarts the pacing no sooner."""
    controller, now = _controller()
    sent = []
    for _ in range(INITIAL_BURST + 6):
        slot = _take(controller, now)
        now[0] = max(now[0], controller.due(slot, now[0]) + now[0])
        slot.sent_at = now[0]  # what due() said: the burst at 0, then 60/s
        sent.append(slot)
    assert sent[-1].sent_at == pytest.approx(6 / START_RATE, rel=0.05)
    now[0] = 0.3
    for slot in sent[1:]:  # their places in flight: Little's law allows 4 at 10/s and 300 ms
        controller.settle(slot, Outcome.ACCEPTED, now[0])
    assert controller.tell(Quota(10.0, origin=Source.TOLD), now[0])
    assert controller.due(_take(controller, now), now[0]) == pytest.approx(1.0 - 0.3)
    now[0] = 0.35
    controller.settle(sent[0], Outcome.REFUSED_REQUESTS, now[0])  # as answers leave, jitter reorders them
    assert controller.rate == 10.0  # sent at the start's rate, before the tell: the told rate holds
    assert controller.stats().decreases == 2
    assert controller.due(_take(controller, now), now[0]) == pytest.approx(1.0 - 0.35)


def test_a_told_quota_reaches_the_pacing_and_the_stats():
    controller, now = _controller()
    assert controller.tell(Quota(5.0, 6000, origin=Source.TOLD), 0.0)
    stats = controller.stats()
    assert (stats.rate, stats.token_rate, stats.source, stats.starting) == (5.0, 100.0, Source.TOLD, False)
    configured, _ = _controller(Quota(2.0, origin=Source.CONFIGURED))
    configured.tell(Quota(5.0, origin=Source.TOLD), 0.0)
    assert configured.rate == 2.0


def test_a_learned_rate_is_handed_to_memory_and_a_remembered_one_starts_paced():
    kept: list[float] = []
    controller, now = _controller()
    controller.remember = kept.append
    slots = [_take(controller, now) for _ in range(12)]
    controller.settle(slots[-1], Outcome.REFUSED_REQUESTS, 0.01)
    waited = time.monotonic() + 5
    while not kept and time.monotonic() < waited:  # kept on a thread of its own: no I/O on the caller's loop
        time.sleep(0.001)
    assert kept == [controller.rate] and controller.rate == pytest.approx(11.0)
    remembered, now = _controller(Quota(kept[0], origin=Source.REMEMBERED))
    assert remembered.source is Source.REMEMBERED and not remembered.stats().starting
    assert remembered.due(_take(remembered, now), 0.0) == 0.0
    assert remembered.due(_take(remembered, now), 0.0) > 0.05


def test_stats_say_where_the_rate_came_from():
    assert _controller()[0].stats().source is Source.LEARNED
    assert _controller(Quota(20.0))[0].stats().source is Source.DOCUMENTED
    assert _controller(adaptive=False)[0].stats().rate is None


# -- the simulated vendor -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["moving", "fixed", "bucket", "counting"])
@pytest.mark.parametrize("known", [False, True])
def test_every_kind_of_quota_is_held_near_its_bound(kind, known):
    """60 requests/s, 50 ms latency with jitter, 1,200 requests on the fake clock, refusals within
    5 ms. Known: the configured rate is the quota. Unknown: found from the start (BENCHMARKS.md
    has the whole matrix)."""
    rule = QuotaRule(kind, 60)
    run, _ = simulate(rule, quota=Quota(60, origin=Source.CONFIGURED) if known else None, jobs=1200, latency=0.05)
    ratio = bound(rule, 1200) / run.seconds
    assert ratio >= (0.9 if known else 0.88), ratio
    assert run.refused_share <= (0.02 if known else 0.10), run.refused_share


@pytest.mark.parametrize(("admit", "most_refused"), [("arrival", 0.05), ("departure", 0.10)])
def test_a_told_quota_holds_the_bound(admit, most_refused):
    """Told by the first answer's headers. A vendor that admits as answers leave, with 20% jitter
    on 300 ms, spreads even sends unevenly over its window: some refusals remain (BENCHMARKS.md)."""
    rule = QuotaRule("moving", 10)
    told = Quota(10.0, origin=Source.TOLD)
    run, controller = simulate(rule, jobs=200, latency=0.3, admit=admit, refuse_after=None, told=told)
    assert bound(rule, 200) / run.seconds >= 0.9 and run.refused_share <= most_refused
    assert controller.source is Source.TOLD


def test_a_token_quota_is_found_from_its_refusals():
    rule = QuotaRule("tokens", 4000)  # 20 requests/s of 200 tokens
    run, controller = simulate(rule, jobs=400, tokens=200)
    assert controller.token_rate is not None and bound(rule, 400, 200) / run.seconds >= 0.8
    assert run.refused_share <= 0.05


def test_without_a_quota_the_start_is_not_paced_by_a_guess():
    """13 requests at 50 ms: the burst and the start rate send all of them within one latency, and
    a long call grows past the plain client's 16 in flight."""
    run, _ = simulate(None, jobs=13, latency=0.05, jitter=0.0)
    assert run.seconds <= 0.102
    run, _ = simulate(None, jobs=1250, latency=0.05, jitter=0.0)
    assert run.seconds < 1250 / 16 * 0.05 and run.max_in_flight > 16


# -- the flow, by hand --------------------------------------------------------------------------


def _flow(policy=RetryPolicy(), deadline=60.0, clock=lambda: 0.0):
    request = httpx.Request("POST", "https://example.test/v2/embeddings")

    def parse(response: httpx.Response) -> BatchResult:
        if response.status_code != 200:
            raise http_error(response, "qianfan", code="rpm_rate_limit_exceeded", message="slow down", request_id=None)
        return BatchResult([[1.0]])

    return batch_flow(lambda: request, parse, policy, deadline=deadline, clock=clock), request


def test_the_flow_yields_a_send_that_builds_the_request_only_when_asked():
    built = []
    flow = batch_flow(
        lambda: built.append(1) or httpx.Request("POST", "https://example.test"),
        lambda response: BatchResult([[1.0]]),
        RetryPolicy(),
    )
    step = next(flow)
    assert isinstance(step, Send) and built == []
    assert step.build().method == "POST" and built == [1]


def test_a_429_with_retry_after_becomes_that_sleep():
    flow, request = _flow()
    assert isinstance(next(flow), Send)
    step = flow.send(httpx.Response(429, headers={"Retry-After": "1.5"}, request=request))
    assert step == Sleep(1.5, step.after) and isinstance(step.after, RateLimitError)
    assert isinstance(flow.send(None), Send)
    with pytest.raises(StopIteration) as done:
        flow.send(httpx.Response(200, request=request))
    assert done.value.value.usage.retries == 1


def test_quota_refusals_outlast_max_retries_within_the_timeout():
    now = [0.0]
    flow, request = _flow(RetryPolicy(max_retries=3), deadline=60.0, clock=lambda: now[0])
    next(flow)
    for _ in range(20):  # twenty refusals over 19 s: the controller is finding the rate
        assert isinstance(flow.send(httpx.Response(429, request=request)), Sleep)
        now[0] += 1.0
        assert isinstance(flow.send(None), Send)
    now[0] += 60
    with pytest.raises(BatchFailed) as failed:  # refused for longer than the timeout: it fails, typed
        flow.send(httpx.Response(429, request=request))
    assert isinstance(failed.value.error, RateLimitError) and failed.value.attempts == 21


def test_the_retry_policy_decides_and_leaves_the_error_as_it_is():
    error = RateLimitError(
        vendor="ark", code="RateLimitExceeded", message="slow down", retryable=True, retry_after=120.0
    )
    before = (str(error), dict(error.__dict__))
    decision = RetryPolicy(max_retries=3).decide(0, error)
    assert decision == Decision(None, "the server asked to wait 120 s, above the 60 s cap")
    assert (str(error), error.__dict__) == before
    assert RetryPolicy(max_retries=3, zero_waits=True).decide(
        0, RateLimitError(vendor="ark", code="x", message="m", retryable=True)
    ) == Decision(0.0)
    assert RetryPolicy(max_retries=3).decide(3, error) == Decision(None)


# -- every slot is settled, whatever escapes ------------------------------------------------------


def _unbuildable_flow():
    def build() -> httpx.Request:
        raise TypeError("Object of type date is not JSON serializable")

    return batch_flow(build, lambda response: BatchResult([[1.0]]), RetryPolicy())


def test_a_request_that_cannot_be_built_releases_its_place_sync():
    """The place in flight came back before: a sync call whose request raised while being built
    held it until its lease ran out, and the next call on the quota waited for it."""
    controller = RateController(Quota(origin=Source.NONE), 1, adaptive=False)
    sender = Sender(
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
        httpx.Auth(),
        Labels("embeddings", "x", "m", "h"),
    )
    with pytest.raises(TypeError):
        run_sync(_unbuildable_flow(), sender, controller, Cancel())
    assert controller.stats().in_flight == 0
    assert controller.try_take(0.0, controller.clock()) is not None


def test_a_request_that_cannot_be_built_releases_its_place_async():
    controller = RateController(Quota(origin=Source.NONE), 1, adaptive=False)

    async def main() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
        with pytest.raises(TypeError):
            await run_async(
                _unbuildable_flow(),
                Sender(client, httpx.Auth(), Labels("embeddings", "x", "m", "h")),
                controller,
                Cancel(),
            )
        await client.aclose()

    asyncio.run(main())
    assert controller.stats().in_flight == 0


def test_a_waiter_is_woken_by_a_decrease_and_claims_again():
    """A thread waiting for its send time is woken by a decrease and goes out at the new rate."""
    controller = RateController(Quota(50.0, origin=Source.REMEMBERED), 64)
    slots = [controller.acquire() for _ in range(3)]
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: controller.acquire().settle(Outcome.ACCEPTED)) for _ in range(10)]
    for thread in threads:
        thread.start()
    time.sleep(0.02)
    slots[0].settle(Outcome.REFUSED_REQUESTS)  # the rate drops: every waiter claims again
    for thread in threads:
        thread.join(10)
    assert controller.rate is not None and controller.rate < 50.0
    assert time.monotonic() - started >= 10 / 50.0  # not sooner than the old schedule allowed
    for slot in slots[1:]:
        slot.settle(Outcome.ACCEPTED)
    assert controller.stats().in_flight == 0


def test_every_timer_of_an_attempt_says_the_same_timeout():
    """Which of the attempt's timers fires first (httpx's read timeout, the deadline, the body's
    check) depends on a loaded machine's scheduling; the message did too, and a test on its
    wording failed once in five runs."""
    from cn_embeddings import APITimeoutError

    def early_read_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = httpx.Client(transport=httpx.MockTransport(early_read_timeout))
    sender = Sender(client, httpx.Auth(), Labels("embeddings", "qianfan", "m", "h"))
    request = httpx.Request("POST", "https://example.test/v2/embeddings")
    failure = sender.send(Send(lambda: request, deadline=1.0))
    assert isinstance(failure, APITimeoutError) and "no complete answer within the 1 s timeout" in str(failure)
