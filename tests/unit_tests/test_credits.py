"""The bulk job's backpressure: credits sized by the write rate and the shortest request time."""

from __future__ import annotations

import threading

import pytest

from cn_embeddings._flow import Cancel, Stopped
from cn_embeddings.bulk.credits import INITIAL_CREDITS, SPARE, Credits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_window_starts_at_the_initial_credits_and_is_capped_by_the_workers():
    clock = Clock()
    assert Credits(256, clock).workers() == INITIAL_CREDITS + SPARE
    assert Credits(4, clock).workers() == 4 + SPARE


def test_the_window_is_twice_the_write_rate_times_the_shortest_request_time():
    clock = Clock()
    credits = Credits(256, clock)
    cancel = Cancel()
    clock.now += 2.0  # the rate is measured over the last second
    for i in range(100):  # 100 batches written in the last second, each taking 0.3 s, one 0.2 s
        taken = credits.take(cancel)
        clock.now += 0.01
        credits.give(taken - (0.2 if i == 50 else 0.3) + 0.01, clock.now)
    # 2 x 100/s x 0.2 s = 40: the shortest time, not the average (which counts queueing)
    assert credits.workers() - SPARE in (40, 41)  # (rounded up, on inexact clock sums)
    clock.now += 11.0  # the shortest time is forgotten after ten seconds, the rate after one
    assert credits.workers() == INITIAL_CREDITS + SPARE


def test_a_writer_that_does_not_keep_up_holds_the_senders():
    clock = Clock()
    credits = Credits(256, clock)
    cancel = Cancel()
    held = [credits.take(cancel) for _ in range(INITIAL_CREDITS)]
    waiting = threading.Thread(target=credits.take, args=(cancel,))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive(), "no credit is left until a batch is written"
    credits.give(held.pop(), clock.now)
    waiting.join(2)
    assert not waiting.is_alive()


def test_the_jobs_stop_ends_a_wait_for_a_credit():
    credits = Credits(1, Clock())
    cancel = Cancel()
    credits.take(cancel)
    cancel.set()
    with pytest.raises(Stopped):
        credits.take(cancel)
