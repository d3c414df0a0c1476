"""The bulk job: check everything, then stream requests through the client's scheduler, writing as answers come.

Two passes. The first reads the source once and checks every input with the
client's own rules (so line 900 is refused, by id and line, before line 1 is
sent), checks ids for duplicates and checks the output for a model, dimension
or content that does not match; each checked input (files read, images
fitted) goes into a temporary file. The second reads that file back, so no
record is read or checked twice, packs requests with the same packer as
``embed`` (:func:`~cn_embeddings._batching.pack`; a text split into pieces is
expanded first, and its vector written once its last piece is answered) and
hands them to the same runner (``run_batches`` over a generator), so the rate
controller keeps the quota: there is no barrier between chunks, and each
answered batch is written at once, in whatever order answers arrive. When a
batch fails for good the job stops taking new ones, lets those in flight
finish, writes them, and raises :class:`BulkError` with the counts; re-running
the same command resumes.

Memory is flat in corpus size: records are read lazily, at most one batch per
worker is held, and the ids are kept, during the first pass only, as 8-byte
digests (the second pass keeps just the positions of the inputs it leaves out).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .. import _longtext
from .. import _telemetry as telemetry
from .._batching import pack, run_batches, worker_count
from .._client import EmbeddingClient
from .._exceptions import BulkError, ConfigurationError, InvalidInputError, Stopped
from .._flow import Cancel
from .._inputs import Item
from .._progress import progress_bar
from .._types import BatchResult, Usage
from .columns import FieldKinds
from .credits import Credits
from .keysets import InputIds, OutputIds, prefix
from .sinks import Existing, Held, Row, Sink
from .sources import Record
from .update import apply_edits, check_updatable

__all__ = ["BulkError", "Summary", "columns_hash", "content_hash", "embed_corpus"]


def content_hash(item: Item) -> str:
    """A stable hash of what is sent for an input (text, media bytes or URL): the default id, and
    how resume notices that an id's content changed."""
    digest = hashlib.sha256()
    for name in ("text", "image", "video"):
        value = getattr(item, name)
        if value is None:
            continue
        digest.update(name.encode() + b"\0")
        if isinstance(value, str):
            digest.update(value.encode("utf-8", "surrogatepass"))
        else:
            digest.update((value.url or "").encode() + b"\0" + (value.data or b""))
        digest.update(b"\0")
    if item.video_options:
        digest.update(repr(sorted(item.video_options)).encode())
    return digest.hexdigest()[:32]


def columns_hash(fields: Mapping[str, Any] | None) -> str:
    """A stable hash of an input's other columns (what an update compares to rewrite a row's
    columns without a request)."""
    canonical = json.dumps(dict(fields or {}), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def row_hash(content: str, columns: str) -> str:
    """The ``hash`` a row is written with: its content hash, a dot, its columns' hash."""
    return f"{content}.{columns}"


def _digests(written_hash: str) -> tuple[int, int]:
    """(content digest, columns digest) of a row's ``hash``; 0 for columns an earlier version
    did not record."""
    content, _, columns = written_hash.partition(".")
    return _key(content), (_key(columns) or 1) if columns else 0


def _key(text: str) -> int:
    """A signed 64-bit digest (what ``array('q')`` holds) of an id or a content hash."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class Summary:
    """What a run did. ``written`` rows were added to the output; ``skipped`` were already there;
    ``duplicates`` repeated an earlier input's content (same derived id)."""

    inputs: int = 0
    written: int = 0
    skipped: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    usage: Usage = field(default_factory=Usage)
    replaced: int = 0  # an update: rows whose content changed, removed to be embedded again (in written once done)
    rewritten: int = 0  # an update: rows whose other columns alone changed, rewritten without a request
    deleted: int = 0  # an update with delete_missing: rows no input names any more
    # after an interrupt: the ids of inputs answered (and paid for) whose rows were not written (a
    # rerun sends them again, or finds them in a cache), and whether the output was left mid-write
    answered_not_written: list[str] = field(default_factory=list)
    left_writing: bool = False

    @property
    def not_embedded(self) -> int:
        """Inputs this run has not embedded yet (a rerun embeds them)."""
        return self.inputs - self.skipped - self.duplicates - self.written - self.rewritten

    @property
    def rows_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        u = self.usage
        updated = (
            f" ({self.replaced} with changed content), {self.rewritten} with changed columns rewritten, "
            f"{self.deleted} deleted"
            if self.replaced or self.rewritten or self.deleted
            else ""
        )
        cached = f", {u.cache_hits} from the cache" if u.cache_hits else ""
        return (
            f"{self.written} rows written{updated}, {self.skipped} already present, {self.duplicates} duplicates "
            f"skipped, of {self.inputs} inputs; {u.requests} requests, {u.retries} retries, "
            f"{u.total_tokens} tokens{cached}; {self.rows_per_second:.1f} rows/s over {self.seconds:.1f} s"
        )


@dataclass
class _Entry:
    id: str
    hash: str
    item: Item
    fields: Mapping[str, Any]
    origin: str = ""  # where the record is (file and line), for errors
    given: bool = True  # whether the id was given, or derived from the content
    columns: str = ""  # the hash of the other columns (see columns_hash)

    @property
    def row_hash(self) -> str:
        return row_hash(self.hash, self.columns)


class _Checked:
    """The first pass's checked entries, in order, in a temporary file that the second pass reads
    back (one pickle per entry, so memory holds one at a time)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="cn-embeddings-checked-")  # noqa: SIM115 - closed by close()

    def add(self, entry: _Entry) -> None:
        pickle.dump(entry, self.file, protocol=pickle.HIGHEST_PROTOCOL)

    def entries(self) -> Iterator[_Entry]:
        self.file.flush()
        self.file.seek(0)
        while True:
            try:
                yield pickle.load(self.file)  # noqa: S301 - this job's own file, written just before
            except EOFError:
                return

    def close(self) -> None:
        self.file.close()


def _checked(client: EmbeddingClient, records: Iterable[Record]) -> Iterator[tuple[Record, _Entry]]:
    """Each record as a checked item with its id; an error names the record's id and line."""
    for record in records:
        try:
            item = client.validate([record.content])[0]
        except InvalidInputError as error:
            message = error.message.removeprefix("input 0: ")
            named = f"id {record.id!r}, " if record.id is not None else ""
            raise InvalidInputError(f"{record.origin} ({named}nothing was sent): {message}", rule=error.rule) from None
        digest = content_hash(item)
        if record.id is not None:
            try:
                record.id.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInputError(
                    f"{record.origin}: id {record.id!r} cannot be written (it is not valid Unicode text); "
                    "nothing was sent",
                    rule="id",
                ) from None
        entry_id = record.id if record.id is not None else digest
        columns = columns_hash(record.fields)
        yield record, _Entry(entry_id, digest, item, record.fields, record.origin, record.id is not None, columns)


def _check_output(existing: Existing, model: str, update: bool) -> OutputIds:
    """The ids already written (as digests, with their content and columns digests), in one pass
    over the output; refuses another model's vectors."""

    def rows() -> Iterator[tuple[int, int, int]]:
        for rid, digest, written_by in existing.rows:
            if written_by != model:
                raise ConfigurationError(
                    f"the output holds vectors of {written_by}, not {model}; "
                    "write another model's vectors to another --output"
                )
            yield (_key(rid), *_digests(digest))

    return OutputIds(rows(), columns=update)


@dataclass
class _Plan:
    """What the first pass decided, kept in a few bytes a row (see :mod:`.keysets`): the ids the
    output holds, the ids the input repeats (as :func:`.keysets.prefix`), and the checked entries."""

    done: OutputIds
    repeated: set[int]
    checked: _Checked
    replaced: set[int] = field(default_factory=set)  # an update: ids whose content changed (embedded again)
    rewrite: dict[str, tuple[str, Mapping[str, Any] | None]] = field(default_factory=dict)  # id -> (hash, columns)


def embed_corpus(
    client: EmbeddingClient,
    source: Iterable[Record],
    sink: Sink,
    *,
    show_progress: bool = False,
    summary: Summary | None = None,
    update: bool = False,
    delete_missing: bool = False,
) -> Summary:
    """Embed every record of ``source`` not yet in ``sink``; see the module docstring.

    ``source`` must be re-iterable (a :class:`~cn_embeddings.bulk.Source`, a list): it is read
    twice. Raises InvalidInputError or ConfigurationError before any request, BulkError after.
    ``summary``: a :class:`Summary` to fill as the run goes, so that a caller interrupted (Ctrl-C
    raises KeyboardInterrupt once the answers on the wire are written) still knows what was written.

    ``update``: bring an output (Parquet, LanceDB, Qdrant) in line with an edited corpus (see
    :mod:`.update`): a row whose content changed is embedded again and replaces the old one, a
    row whose other columns alone changed is rewritten without a request; ``delete_missing``
    also deletes the rows no input names any more (else they are kept)."""
    sink = sink if isinstance(sink, Held) else Held(sink)  # a bare sink: no lock, no settings file
    summary = summary if summary is not None else Summary()
    started = time.perf_counter()
    model = client.protocol.model
    settings = vector_settings(client)
    checked = _Checked()
    try:
        try:
            if delete_missing and not update:
                raise ConfigurationError("delete_missing needs update=True (--delete-missing needs --update)")
            if update:
                check_updatable(sink)
            existing, plan, todo, kinds = _first_pass(client, source, sink, model, settings, summary, checked, update)
            sink.set_fields(kinds)  # a typed output checks the input's columns against what it holds
        except BaseException:
            sink.close()  # nothing was sent: the output is free for the next job
            raise
        if todo or plan.rewrite or plan.replaced or delete_missing:
            sink.use_settings(settings)
        if update:
            try:
                apply_edits(sink, plan, summary, model, delete_missing, _key)
            except BaseException:
                sink.close()
                raise
        before = client.usage
        with telemetry.job(client.labels, summary.inputs) as job:  # each batch's span is a child
            try:
                with progress_bar(todo, enabled=show_progress, desc="embedding") as progress:
                    _Window(client, sink, model, existing.dimension, summary, progress).run(_todo(plan))
            finally:
                summary.usage = _since(before, client.usage)
                summary.seconds = time.perf_counter() - started
                job.set("cn_embeddings.job.written", summary.written)
                job.set("cn_embeddings.job.skipped", summary.skipped)
                job.finished(summary.usage.prompt_tokens or summary.usage.total_tokens)
    finally:
        checked.close()
    return summary


def vector_settings(client: EmbeddingClient) -> dict[str, Any]:
    """What the vectors of a run depend on besides the inputs: the protocol's own settings, and
    what happens to long texts and oversized images."""
    return {
        "vendor": client.protocol.vendor,
        "space": client.space.describe(),
        **client.protocol.vector_settings(),
        "long_inputs": client.options.long_inputs,
        "fit_images": client.options.fit_images,
        "extra_body": client.options.extra_body,  # fields sent as they are (Ark instructions among them)
    }


def _check_settings(sink: Held, settings: dict[str, Any]) -> None:
    """A resume with settings that change the vectors (other instructions, dimensions, sparse...)
    is refused before any request: the output would mix embedding spaces."""
    recorded = sink.recorded_settings()
    if recorded is None:
        return
    # a setting this version records and an older one did not (the vendor) cannot tell two runs apart
    changed = sorted(name for name in recorded if settings.get(name) != recorded.get(name))
    if changed:
        said = "; ".join(f"{name}={recorded.get(name)!r} there, {settings.get(name)!r} now" for name in changed)
        raise ConfigurationError(
            f"the output was written with other settings ({said}); run with the same settings to resume, "
            "or write to another --output (nothing was sent)"
        )


def _first_pass(
    client: EmbeddingClient,
    source: Iterable[Record],
    sink: Held,
    model: str,
    settings: dict[str, Any],
    summary: Summary,
    checked: _Checked,
    update: bool = False,
) -> tuple[Existing, _Plan, int, dict[str, str]]:
    """Check every record and the output before any request: (what the output holds, the plan the
    second pass follows, how many it sends, the kinds of the input's other columns). Memory holds
    12 bytes per output row (16 for an update) and the repeated ids; the input's ids are sorted through a temporary
    file (:mod:`.keysets`)."""
    _check_settings(sink, settings)
    existing = sink.existing()
    done = _check_output(existing, model, update)
    kinds = FieldKinds()
    ids = InputIds()
    plan = _Plan(done, set(), checked)
    for record, entry in _checked(client, source):
        checked.add(entry)
        summary.inputs += 1
        if record.fields:
            kinds.add(record.fields, record.origin)
        key = _key(entry.id)
        if update:
            state = done.compare(key, _key(entry.hash), _key(entry.columns) or 1)
            if state == "content":
                plan.replaced.add(key)
            elif state == "columns":
                plan.rewrite[entry.id] = (entry.row_hash, entry.fields)
            ids.add(key, record.id is not None, state in ("same", "columns"))
            continue
        if done.holds_other_content(key, _key(entry.hash)):
            raise InvalidInputError(
                f"{record.origin}: id {entry.id!r} is already in the output with other "
                "content; give it a new id, update the output (--update) or use another --output "
                "(nothing was sent)",
                rule="changed-content",
            )
        ids.add(key, record.id is not None, key in done)
    todo = 0
    twice: set[int] = set()
    for key_prefix, count, given, written in ids.groups():
        if count > 1:
            if given:
                raise _duplicate_id(checked, key_prefix)
            summary.duplicates += count - 1
            twice.add(key_prefix)
        if written:
            summary.skipped += 1
        else:
            todo += 1
    plan.repeated = twice
    summary.skipped -= len(plan.rewrite)
    summary.rewritten = len(plan.rewrite)
    summary.replaced = len(plan.replaced)
    return existing, plan, todo, kinds.kinds()


def _duplicate_id(checked: _Checked, key_prefix: int) -> InvalidInputError:
    """The error for the second record with an id an earlier one has (the checked entries are
    read back to name it: only digests of the ids were kept)."""
    first = True
    for entry in checked.entries():
        if entry.given and prefix(_key(entry.id)) == key_prefix:
            if not first:
                return InvalidInputError(
                    f"{entry.origin}: duplicate id {entry.id!r} (ids must be unique; nothing was sent)",
                    rule="unique-id",
                )
            first = False
    raise AssertionError("a repeated id was not found again")  # pragma: no cover - the file changed


def _todo(plan: _Plan) -> Iterator[_Entry]:
    """The second pass: the checked entries that are neither in the output nor a repeat of an
    earlier one (an input that grew meanwhile was read to where the first pass stopped; a
    resume takes the rest)."""
    emitted: set[int] = set()
    for entry in plan.checked.entries():
        key = _key(entry.id)
        if (short := prefix(key)) in plan.repeated:
            if short in emitted:
                continue
            emitted.add(short)
        if key not in plan.done or key in plan.replaced:
            yield entry


def _since(before: Usage, after: Usage) -> Usage:
    return Usage(**{f.name: getattr(after, f.name) - getattr(before, f.name) for f in fields(Usage)})


@dataclass(frozen=True)
class _Unit:
    """One input of a request: an entry, or one piece of an entry split into pieces."""

    entry: _Entry
    item: Item
    piece: int = 0


def _units(entries: Iterable[_Entry]) -> Iterator[_Unit]:
    """The entries as they are sent: a split text's pieces in its place."""
    for entry in entries:
        if not entry.item.pieces:
            yield _Unit(entry, entry.item)
            continue
        sent, _ = _longtext.expand([entry.item])
        yield from (_Unit(entry, item, k) for k, item in enumerate(sent))


class _Window:
    """Streams the entries through the client's one scheduler and writes each batch as it is
    answered; a split entry is written once all its pieces are."""

    def __init__(
        self,
        client: EmbeddingClient,
        sink: Sink,
        model: str,
        dimension: int | None,
        summary: Summary,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.client, self.sink, self.model, self.dimension = client, sink, model, dimension
        self.summary, self.progress = summary, progress
        self.lock = threading.Lock()
        self.credits = Credits(worker_count(client.max_concurrency))
        self.pieces: dict[str, list[list[float] | None]] = {}  # a split entry's id -> its pieces' vectors so far
        self.unwritten: dict[int, list[_Unit]] = {}  # id(batch) -> an answered batch not yet written

    def run(self, entries: Iterator[_Entry]) -> None:
        """Ctrl-C drains the job: answers on the wire are written, nothing new is sent. A second
        one stops it within a few seconds, whatever the output does: a write still running then
        is left behind with the output open (its lock held until the process ends)."""
        client = self.client
        batches = pack(client.protocol, _units(entries), client.batch_size, lambda unit: unit.item)
        outcome = None
        try:
            outcome = run_batches(
                batches, self._one, client.max_concurrency, keep=False, gentle=True, wanted=self.credits.workers
            )
        finally:
            if outcome is None or not outcome.left_behind:
                self.sink.close()
        if outcome.failure is None:
            return
        self.summary.left_writing = bool(outcome.left_behind)
        self.summary.answered_not_written = self._answered_not_written()
        failure = outcome.failure.error
        if isinstance(failure, (KeyboardInterrupt, ConfigurationError)):
            raise failure
        raise BulkError(failure, self.summary, self.summary.not_embedded) from failure

    def _one(self, batch: list[_Unit], cancel: Cancel) -> BatchResult:
        taken = self.credits.take(cancel)  # sending waits for writing (see .credits)
        answered = None
        try:
            result = self.client.run_batch([unit.item for unit in batch], cancel)
            answered = self.credits.clock()
            self.unwritten[id(batch)] = batch
            written = self._write(batch, result, cancel)
            del self.unwritten[id(batch)]
        finally:
            self.credits.give(taken, answered)
        if self.progress:
            self.progress(written)
        return result

    def _answered_not_written(self) -> list[str]:
        """The inputs whose answers were paid for and whose rows are not in the output: answered
        batches whose write did not end, and split inputs with some of their pieces answered. Read
        without the lock: a write left behind may hold it for good."""
        ids = {unit.entry.id: None for batch in list(self.unwritten.values()) for unit in batch}
        ids.update((entry_id, None) for entry_id in list(self.pieces))
        return list(ids)

    def _write(self, batch: list[_Unit], result: BatchResult, cancel: Cancel) -> int:
        """Write a batch's rows (a split entry's once all its pieces are in); how many were written.
        Once the job is stopped (a second Ctrl-C), a batch still waiting for the output is not written."""
        with self.lock:
            if cancel.hard.is_set():
                raise Stopped("the job was stopped before this batch was written")
            rows = []
            for i, (unit, vector) in enumerate(zip(batch, result.vectors, strict=True)):
                e = unit.entry
                if e.item.pieces:
                    whole = self._piece(unit, vector)
                    if whole is not None:
                        rows.append(Row(e.id, e.row_hash, whole, None, e.item.text, e.fields, None))
                    continue
                sparse = result.sparse[i] if result.sparse else None
                multi = result.multi[i] if result.multi else None
                rows.append(Row(e.id, e.row_hash, vector, sparse, e.item.text, e.fields, multi))
            self._check_dimension(rows)
            self.sink.write(rows, self.model)
            self.summary.written += len(rows)
        return len(rows)

    def _piece(self, unit: _Unit, vector: list[float]) -> list[float] | None:
        """Keep one piece's vector; the entry's merged vector once every piece is in."""
        got = self.pieces.setdefault(unit.entry.id, [None] * len(unit.entry.item.pieces))  # ids are unique here
        got[unit.piece] = vector
        if any(v is None for v in got):
            return None
        del self.pieces[unit.entry.id]
        return _longtext.merge([unit.entry.item], [0] * len(got), got)[0]

    def _check_dimension(self, rows: list[Row]) -> None:
        for row in rows:
            if self.dimension is None:
                self.dimension = len(row.vector)
            elif len(row.vector) != self.dimension:
                raise ConfigurationError(
                    f"{row.id!r} came back with {len(row.vector)} dimensions, but the output "
                    f"holds {self.dimension}-dimension vectors; write to another --output"
                )
