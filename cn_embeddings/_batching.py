"""Run many batches with bounded concurrency, results in input order, nothing lost.

A fixed pool of workers (threads for sync, tasks for async) pulls batches
from one shared iterator, so at most ``max_concurrency`` requests are in
flight and no unbounded ``gather`` is ever built. The first batch that fails
for good stops the dispatch of new batches, and the error raised says which
inputs were embedded, which were not, and which made up the failed request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ._exceptions import CNEmbeddingsError
from ._types import BatchResult

__all__ = ["run_batches", "arun_batches"]

Progress = Callable[[int], None]


def _fail(error: BaseException, batches: Sequence[list[int]], results: list[BatchResult | None],
          failed_batch: int) -> BaseException:
    if isinstance(error, CNEmbeddingsError):
        embedded = [i for b, r in zip(batches, results, strict=True) if r is not None for i in b]
        not_embedded = [i for b, r in zip(batches, results, strict=True) if r is None for i in b]
        error.with_progress(embedded, not_embedded, list(batches[failed_batch]))
    return error


def run_batches(batches: Sequence[list[int]], call: Callable[[list[int]], BatchResult],
                max_concurrency: int, progress: Progress | None = None) -> list[BatchResult]:
    results: list[BatchResult | None] = [None] * len(batches)
    pending = iter(enumerate(batches))
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[tuple[int, BaseException]] = []

    def worker() -> None:
        while not stop.is_set():
            with lock:
                nxt = next(pending, None)
            if nxt is None:
                return
            index, batch = nxt
            try:
                results[index] = call(batch)
            except BaseException as error:  # noqa: BLE001 - re-raised by the caller below
                failures.append((index, error))
                stop.set()
                return
            if progress:
                progress(len(batch))

    workers = min(max_concurrency, len(batches))
    if workers <= 1:
        worker()
    else:
        pool = ThreadPoolExecutor(workers, thread_name_prefix="cn-embeddings")
        try:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()
        finally:
            stop.set()  # on KeyboardInterrupt too: workers finish their request and exit
            pool.shutdown(wait=True, cancel_futures=True)
    if failures:
        index, error = failures[0]
        raise _fail(error, batches, results, index)
    return results  # type: ignore[return-value]


async def arun_batches(batches: Sequence[list[int]], call: Callable[[list[int]], Awaitable[BatchResult]],
                       max_concurrency: int, progress: Progress | None = None) -> list[BatchResult]:
    results: list[BatchResult | None] = [None] * len(batches)
    pending = iter(enumerate(batches))
    failures: list[tuple[int, BaseException]] = []

    async def worker() -> None:
        for index, batch in pending:  # shared iterator: next() never awaits, so no lock needed
            try:
                results[index] = await call(batch)
            except asyncio.CancelledError:
                raise
            except BaseException as error:  # noqa: BLE001 - re-raised below
                failures.append((index, error))
                raise
            if progress:
                progress(len(batch))

    tasks = [asyncio.ensure_future(worker()) for _ in range(min(max_concurrency, len(batches)))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        # Cancelled from outside, or a batch failed: cancel in-flight requests, leave no task behind.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if failures:
        index, error = failures[0]
        raise _fail(error, batches, results, index)
    return results  # type: ignore[return-value]
