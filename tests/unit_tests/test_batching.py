"""Packing requests and running them, with a fake vendor protocol and a fake call: no server."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from cn_embeddings._batching import arun_batches, pack, plan_batches, run_batches, worker_count
from cn_embeddings._exceptions import Stopped
from cn_embeddings._inputs import Item
from cn_embeddings._types import BatchResult, Usage


class Fits:
    """A protocol whose requests take at most ``most`` items and ``budget`` characters."""

    def __init__(self, budget: int = 10) -> None:
        self.budget = budget

    def fits(self, current: list[Item], item: Item, most: int) -> bool:
        return len(current) < most and sum(len(i.text or "") for i in current) + len(item.text or "") <= self.budget


def answer(batch):
    return BatchResult([[float(i)] for i in batch], Usage(requests=1))


def test_packing_is_greedy_keeps_order_and_streams():
    items = [Item(text=t) for t in ["aaaa", "bbbb", "cc", "dddddddd", "e", "f", "g"]]
    assert list(plan_batches(Fits(), items, 3)) == [[0, 1, 2], [3, 4, 5], [6]]

    def endless():
        n = 0
        while True:
            yield ("id", n, Item(text="xx"))
            n += 1

    packed = pack(Fits(), endless(), 4, lambda thing: thing[2])  # any objects, lazily
    assert [[n for _, n, _ in batch] for batch in (next(packed), next(packed))] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_an_item_larger_than_a_request_goes_alone():
    items = [Item(text="a"), Item(text="x" * 50), Item(text="b")]
    assert list(plan_batches(Fits(), items, 16)) == [[0], [1], [2]]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_batch_answered_by_position(mode):
    batches = [[i, i + 1] for i in range(0, 40, 2)]
    progress = []
    if mode == "sync":
        outcome = run_batches(batches, lambda b, cancel: answer(b), 4, progress=progress.append)
    else:

        async def call(b, cancel):
            await asyncio.sleep(0)
            return answer(b)

        outcome = asyncio.run(arun_batches(batches, call, 4, progress=progress.append))
    assert outcome.failure is None and outcome.batches == batches
    assert [outcome.results[i].vectors for i in range(20)] == [[[float(i)], [float(i + 1)]] for i in range(0, 40, 2)]
    assert sum(progress) == 40


def test_a_failed_batch_drains_the_run_and_keeps_the_answers():
    started, lock = [], threading.Lock()

    def call(batch, cancel):
        with lock:
            started.append(batch[0])
        if batch[0] == 3:
            raise ValueError("batch 3 broke")
        time.sleep(0.02)
        return answer(batch)

    outcome = run_batches([[i] for i in range(100)], call, 2)
    assert isinstance(outcome.failure.error, ValueError) and outcome.failure.index == 3
    assert len(started) < 20, "nothing new is sent once a batch failed"
    assert all(outcome.results[i].vectors == [[float(i)]] for i in outcome.results)
    assert set(outcome.results) | {3} == set(range(len(outcome.batches))), "what was taken was answered or failed"


def test_a_drained_run_that_left_batches_unsent_says_so():
    from cn_embeddings._flow import Cancel

    cancel = Cancel()

    def call(batch, cancel_):
        if batch[0] == 1:
            cancel.set()  # drained from outside, as the bulk job's Ctrl-C does
        return answer(batch)

    outcome = run_batches([[i] for i in range(50)], call, 1, cancel=cancel)
    assert isinstance(outcome.failure.error, Stopped)


def test_keep_false_keeps_nothing_and_the_pool_grows_only_as_wanted():
    seen, wanted = set(), [1]

    def call(batch, cancel):
        seen.add(threading.current_thread().name)
        if batch[0] == 20:
            wanted[0] = 3
        time.sleep(0.005)
        return answer(batch)

    outcome = run_batches([[i] for i in range(60)], call, 64, keep=False, wanted=lambda: wanted[0])
    assert outcome.failure is None and outcome.results == {} and outcome.batches == []
    assert 1 < len(seen) <= 3, f"{len(seen)} workers (the most: {worker_count(64)})"


def test_known_batches_cap_the_workers():
    seen = set()

    def call(batch, cancel):
        seen.add(threading.current_thread().name)
        time.sleep(0.01)
        return answer(batch)

    run_batches([[0], [1]], call, 64, known=2)
    assert len(seen) <= 2
