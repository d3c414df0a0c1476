"""Plan a call into requests, then run them with bounded concurrency, nothing lost.

``pack`` packs items greedily, in order, into requests the vendor accepts,
lazily over any iterable (the bulk job streams a corpus through it);
``plan_batches`` is that over one call's items.
The runners use a fixed pool of workers (threads for sync, tasks for async)
pulling batches from one shared iterator; no unbounded ``gather`` is ever
built, and the rate controller decides how many of them are on the wire.

The sync runner never runs a request in the caller's thread: a Ctrl-C lands
where the caller waits, never inside httpcore or the controller, so the next
call on the same client finds no lock held and no place in flight taken.
The interrupt stops the call (reads on the wire end within a slice); a batch
that fails for good only drains it: nothing new is sent, and the answers
already on the wire are read and kept. The runners never raise: they return
an :class:`Outcome` with every answered batch and the failure, so the caller
can count what was billed and hand back the vectors that were paid for.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, Generic, NoReturn, TypeVar

from ._exceptions import BatchFailed, CallRecord, CNEmbeddingsError, Stopped, attach_record
from ._flow import Cancel
from ._inputs import Item
from ._telemetry import Labels
from ._types import Answer, Usage
from .vendors._base import VendorProtocol

__all__ = ["Failure", "Outcome", "arun_batches", "failure_of", "pack", "plan_batches", "run_batches", "worker_count"]

log = logging.getLogger("cn_embeddings")

B = TypeVar("B")
T = TypeVar("T")
R = TypeVar("R", bound=Answer)
Progress = Callable[[int], None]
GROW_EVERY = 0.05  # seconds between looks at how many workers are wanted
STOP_WITHIN = 3.0  # seconds a stopped run waits for its workers before it leaves them behind
JOIN_SLICE = 0.1  # a wait for a worker wakes this often: a signal sent to another thread is then seen
WORKERS_PER_PLACE = 2  # workers per request allowed in flight: one waits out a retry beside each one sent
_POOLS = itertools.count(1)  # each run's pool names its threads apart: cn-embeddings_<run>_<n>


def worker_count(max_concurrency: int) -> int:
    return WORKERS_PER_PLACE * max_concurrency


def plan_batches(protocol: VendorProtocol, items: Sequence[Item], max_items: int) -> Iterator[list[int]]:
    """Greedy, order-keeping packing of item positions into requests."""
    return pack(protocol, range(len(items)), max_items, items.__getitem__)


def pack(
    protocol: VendorProtocol, things: Iterable[T], max_items: int, item_of: Callable[[T], Item]
) -> Iterator[list[T]]:
    """Greedy, order-keeping packing of any objects (``item_of`` says what each sends) into
    requests the vendor accepts, as they arrive: the bulk job streams a corpus through it."""
    current: list[T] = []
    current_items: list[Item] = []
    for thing in things:
        item = item_of(thing)
        if current and not protocol.fits(current_items, item, max_items):
            yield current
            current, current_items = [], []
        current.append(thing)
        current_items.append(item)
    if current:
        yield current


@dataclass(frozen=True)
class Failure:
    """The failure that ended a run: the batch's position (None when the run itself was
    interrupted), the error, and for a batch that failed for good the attempts it took and the
    retry policy's note."""

    index: int | None
    error: BaseException
    attempts: int = 0
    note: str | None = None

    @property
    def billed(self) -> Usage:
        """The requests the failed batch made (each one may have been billed)."""
        return Usage(requests=self.attempts, retries=max(self.attempts - 1, 0))

    def raise_with(self, record: CallRecord, labels: Labels) -> NoReturn:
        """Raise the error with the call's record attached: the one place a record is attached,
        and the one warning a failed call logs."""
        if isinstance(self.error, CNEmbeddingsError):
            error = attach_record(self.error, replace(record, attempts=self.attempts, note=self.note))
            log.warning(
                "%s %s: the call failed, %d of %d inputs not embedded: %s",
                labels.vendor, labels.model, len(record.not_embedded),
                len(record.not_embedded) + len(record.embedded), " ".join(str(error).split()),
                extra={"call_failed": True},  # the CLI says it in its own error line
            )  # fmt: skip
            raise error
        raise self.error


def failure_of(index: int | None, error: BaseException) -> Failure:
    if isinstance(error, BatchFailed):
        return Failure(index, error.error, error.attempts, error.note)
    return Failure(index, error)


@dataclass
class Outcome(Generic[B, R]):
    """What a run produced: the batches taken from the plan, a result per answered batch (by
    position), and the first failure."""

    batches: list[B] = field(default_factory=list)
    results: dict[int, R] = field(default_factory=dict)
    failure: Failure | None = None
    left_behind: list[str] = field(default_factory=list)  # workers still running when a stop gave up waiting

    def fail(self, index: int | None, error: BaseException) -> None:
        """Keep the first failure; a batch that was only stopped gives way to the failure that
        stopped it, whichever worker gets here first."""
        if self.failure is None or isinstance(self.failure.error, Stopped) and not isinstance(error, Stopped):
            self.failure = failure_of(index, error)


class _Plan(Generic[B]):
    """The shared iterator of batches; remembers what it handed out unless told not to."""

    def __init__(self, batches: Iterable[B], outcome: Outcome[B, Any], keep: bool) -> None:
        self._it = iter(batches)
        self._outcome, self._keep = outcome, keep
        self._taken = 0
        self._lock = threading.Lock()  # worker threads take turns; a generator cannot be shared

    def next(self) -> tuple[int, B] | None:
        with self._lock:
            batch = next(self._it, None)
            if batch is None:
                return None
            index, self._taken = self._taken, self._taken + 1
            if self._keep:
                self._outcome.batches.append(batch)
            return index, batch


def _finished(
    outcome: Outcome[Any, Any],
    cancel: Cancel,
    progress: Progress | None,
    index: int,
    batch: Sequence[Any],
    result: Answer,
    keep: bool,
) -> None:
    if keep:
        outcome.results[index] = result
    if progress is not None:
        try:
            progress(len(batch))
        except Exception as error:  # noqa: BLE001 - the user's callback: stop, handing it back
            outcome.fail(None, error)
            cancel.set()


def run_batches(
    batches: Iterable[B],
    call: Callable[[B, Cancel], R],
    max_concurrency: int,
    *,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    keep: bool = True,
    gentle: bool = False,
    known: int | None = None,
    wanted: Callable[[], int] | None = None,
) -> Outcome[B, R]:
    """Run the batches on worker threads while the caller's thread only waits.

    ``cancel`` may be set from outside (a drain). Ctrl-C stops the call, or drains it when
    ``gentle`` (the bulk job: answers on the wire are written). ``keep`` False keeps no results
    (the caller's ``call`` consumed them); ``known``: how many batches there are, if known.
    ``wanted``: how many workers are of use now (the bulk job's credits), when fewer than the
    most: the pool grows to it as it rises, so a job that needs a few holds a few threads."""
    outcome: Outcome[B, R] = Outcome()
    cancel = cancel or Cancel()
    plan = _Plan(batches, outcome, keep)

    def worker() -> None:
        while not cancel.is_set():
            taken = plan.next()
            if taken is None:
                return
            index, batch = taken
            try:
                result = call(batch, cancel)
            except BaseException as error:  # noqa: BLE001 - handed to the caller in the outcome
                outcome.fail(index, error)
                cancel.set()  # nothing new; what is on the wire is read and kept
                return
            _finished(outcome, cancel, progress, index, batch, result, keep)  # type: ignore[arg-type]
            del result, batch  # not held while the next batch waits its turn (a bulk job keeps none)

    most = max(worker_count(max_concurrency) if known is None else min(worker_count(max_concurrency), known), 1)
    named = f"cn-embeddings_{next(_POOLS)}"  # the pool's threads are named {named}_0, {named}_1...
    pool = ThreadPoolExecutor(most, thread_name_prefix=named)
    futures: list[Future[None]] = []

    def grow() -> None:
        # each worker runs in a copy of the caller's context: the call's span is its attempts' parent
        while len(futures) < (most if wanted is None else min(max(wanted(), 1), most)) and not cancel.is_set():
            futures.append(pool.submit(contextvars.copy_context().run, worker))

    try:
        grow()
        while wanted is not None and not all(future.done() for future in futures):
            wait(futures, GROW_EVERY, FIRST_EXCEPTION)
            grow()
        for future in futures:
            future.result()
    except BaseException as interrupt:  # noqa: BLE001 - Ctrl-C while the caller waits
        outcome.fail(None, interrupt)
        _interrupted(cancel, gentle)
    finally:
        cancel.set()
        _join(pool, outcome, cancel, named)
    return _unless_drained(outcome, plan)


def _interrupted(cancel: Cancel, gentle: bool) -> None:
    """A Ctrl-C stops the run (reads on the wire end within a slice). A ``gentle`` run (the bulk
    job) is drained by the first one, its answers on the wire written, and stopped by a second."""
    if gentle and not cancel.is_set():
        cancel.set()
    else:
        cancel.stop()


def _join(pool: ThreadPoolExecutor, outcome: Outcome[Any, Any], cancel: Cancel, named: str) -> None:
    """Wait for every worker, even through a Ctrl-C that lands while waiting: it is the run's
    interruption (a second one, while a drain waits, stops the run), and no worker is left running
    behind the caller. Once the run is stopped, the wait is bounded (``STOP_WITHIN``): a worker
    still inside the caller's own code then (a bulk job's output that stopped answering) is left
    behind, and the outcome says so. The workers are found by the name the run's threads carry
    (``named``, unique to it): a Ctrl-C that lands inside ``submit``, after the pool started a
    thread but before it recorded it, leaves one that the pool's own shutdown would not wait for."""
    pool.shutdown(wait=False, cancel_futures=True)
    me = threading.current_thread()
    stop_by: float | None = None
    for thread in [t for t in threading.enumerate() if t.name.startswith(f"{named}_") and t is not me]:
        while thread.is_alive():  # it finds the shutdown's sentinel in the queue and ends
            if cancel.hard.is_set() and stop_by is None:
                stop_by = time.monotonic() + STOP_WITHIN
            left = None if stop_by is None else stop_by - time.monotonic()
            if left is not None and left <= 0:
                outcome.left_behind.append(thread.name)
                break
            try:
                thread.join(JOIN_SLICE if left is None else min(left, JOIN_SLICE))  # a Ctrl-C is seen within a slice
            except BaseException as interrupt:  # noqa: BLE001 - recorded, raised by the caller
                outcome.fail(None, interrupt)
                cancel.stop()


def _unless_drained(outcome: Outcome[B, R], plan: _Plan[B]) -> Outcome[B, R]:
    """A drained run that left batches unsent fails with their record, even where no batch did."""
    if outcome.failure is None and (plan.next() is not None or len(outcome.results) < len(outcome.batches)):
        outcome.fail(None, Stopped("the call was drained before every batch was sent"))
    return outcome


async def arun_batches(
    batches: Iterable[B],
    call: Callable[[B, Cancel], Awaitable[R]],
    max_concurrency: int,
    *,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    keep: bool = True,
    known: int | None = None,
) -> Outcome[B, R]:
    """The same on tasks. A failed batch drains the run (the others' answers on the wire are
    read and kept); a cancelled caller cancels every task, and their slots are settled."""
    outcome: Outcome[B, R] = Outcome()
    cancel = cancel or Cancel()
    plan = _Plan(batches, outcome, keep)

    async def worker() -> None:
        while not cancel.is_set():
            taken = plan.next()  # next() never awaits, so tasks need no lock
            if taken is None:
                return
            index, batch = taken
            try:
                result = await call(batch, cancel)
            except asyncio.CancelledError:
                raise
            except BaseException as error:  # noqa: BLE001 - handed to the caller in the outcome
                outcome.fail(index, error)
                cancel.set()
                return
            _finished(outcome, cancel, progress, index, batch, result, keep)  # type: ignore[arg-type]
            del result, batch  # not held while the next batch waits its turn (a bulk job keeps none)

    workers = worker_count(max_concurrency) if known is None else min(worker_count(max_concurrency), known)
    tasks = [asyncio.ensure_future(worker()) for _ in range(max(workers, 1))]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError as cancelled:
        outcome.fail(None, cancelled)
        cancel.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return _unless_drained(outcome, plan)
