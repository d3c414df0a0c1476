"""Plan a call into requests, then run them with bounded concurrency, nothing lost.

``plan_batches`` packs input indices greedily, in order, into requests the
vendor accepts. The runners use a fixed pool of workers (threads for sync,
tasks for async) pulling batches from one shared iterator, and no unbounded
``gather`` is ever built. There are twice as many workers as requests allowed
in flight: a batch waiting out a retry holds a worker but not a place in
flight (the client's gate counts requests on the wire), so the other workers
keep the vendor busy meanwhile. The first batch that fails for good stops the dispatch of new
batches. The runners never raise: they return an :class:`Outcome` with every
answered batch and the failure, so the caller can count what was billed and
hand back the vectors that were paid for before it raises.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ._flow import Stopped, stopped
from ._inputs import Item
from ._types import BatchResult
from .vendors._base import VendorProtocol

__all__ = ["Outcome", "arun_batches", "plan_batches", "run_batches", "worker_count"]

Progress = Callable[[int], None]
WORKERS_PER_PLACE = 2  # workers per request allowed in flight


def worker_count(max_concurrency: int) -> int:
    """Batches worked on at once: room for one waiting out a retry beside each one on the wire."""
    return WORKERS_PER_PLACE * max_concurrency


def plan_batches(protocol: VendorProtocol, items: Sequence[Item], max_items: int) -> list[list[int]]:
    """Greedy, order-keeping packing of item indices into requests."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_items: list[Item] = []
    for index, item in enumerate(items):
        if current and not protocol.fits(current_items, item, max_items):
            batches.append(current)
            current, current_items = [], []
        current.append(index)
        current_items.append(item)
    if current:
        batches.append(current)
    return batches


@dataclass
class Outcome:
    """What a run produced: a result per answered batch (None where none came back), and the
    first failure as (batch index or None when the run itself was interrupted, the exception)."""

    results: list[BatchResult | None]
    failure: tuple[int | None, BaseException] | None = None


def _record(outcome: Outcome, index: int, error: BaseException) -> None:
    """Keep the first failure; a batch that was only stopped gives way to the failure that
    stopped it, whichever thread gets here first."""
    if outcome.failure is None or isinstance(outcome.failure[1], Stopped) and not isinstance(error, Stopped):
        outcome.failure = (index, error)


def _report(progress: Progress, n: int, outcome: Outcome) -> bool:
    """Call the user's progress callback; if it raises, the call stops with that error (the
    batch it reported stays answered)."""
    try:
        progress(n)
    except Exception as error:  # noqa: BLE001 - the user's callback: stop, handing it back
        outcome.failure = outcome.failure or (None, error)
        return False
    return True


def run_batches(batches: Sequence[list[int]], call: Callable[[list[int], threading.Event], BatchResult],
                max_concurrency: int, progress: Progress | None = None,
                drain: threading.Event | None = None) -> Outcome:
    """Run the batches on worker threads. ``stop`` (handed to each call) ends the run at once;
    ``drain``, set from outside, only keeps new batches from starting (the calls see it too)."""
    outcome = Outcome([None] * len(batches))
    pending = iter(enumerate(batches))
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while not stopped(stop, drain):
            with lock:
                nxt = next(pending, None)
            if nxt is None:
                return
            index, batch = nxt
            try:
                outcome.results[index] = call(batch, stop)
            except BaseException as error:  # noqa: BLE001 - handed to the caller in the outcome
                with lock:
                    _record(outcome, index, error)
                if not isinstance(error, Stopped):  # a drained batch leaves the others' requests to their answer
                    stop.set()
                return
            if progress and not _report(progress, len(batch), outcome):
                stop.set()
                return

    workers = min(worker_count(max_concurrency), len(batches))
    if workers <= 1:
        worker()
        return _unless_drained(outcome)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="cn-embeddings")
    try:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    except BaseException as interrupt:  # noqa: BLE001 - KeyboardInterrupt while waiting
        outcome.failure = outcome.failure or (None, interrupt)
    finally:
        stop.set()  # requests on the wire end within a read slice; no retry and no new batch
        pool.shutdown(wait=True, cancel_futures=True)
    return _unless_drained(outcome)


def _unless_drained(outcome: Outcome) -> Outcome:
    """A drained run that left batches unsent fails with their record, even where no batch did."""
    if outcome.failure is None and any(result is None for result in outcome.results):
        outcome.failure = (None, Stopped("the call was drained before every batch was sent"))
    return outcome


async def arun_batches(batches: Sequence[list[int]],
                       call: Callable[[list[int], threading.Event], Awaitable[BatchResult]],
                       max_concurrency: int, progress: Progress | None = None) -> Outcome:
    outcome = Outcome([None] * len(batches))
    pending = iter(enumerate(batches))
    stop = threading.Event()  # set by a batch that fails for good, before it gives back its place

    async def worker() -> None:
        for index, batch in pending:  # shared iterator: next() never awaits, so no lock needed
            try:
                outcome.results[index] = await call(batch, stop)
            except asyncio.CancelledError:
                raise
            except BaseException as error:  # noqa: BLE001 - handed to the caller in the outcome
                _record(outcome, index, error)
                raise
            if progress and not _report(progress, len(batch), outcome):
                raise outcome.failure[1] if outcome.failure else RuntimeError("progress failed")

    tasks = [asyncio.ensure_future(worker()) for _ in range(min(worker_count(max_concurrency), len(batches)))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError as cancelled:
        outcome.failure = outcome.failure or (None, cancelled)
    finally:
        # Cancelled from outside, or a batch failed: cancel in-flight requests, leave no task behind.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return outcome
