"""Where a bulk job's vectors go: JSON Lines, Parquet, or stdout.

Every sink writes each answered batch as soon as it arrives, and reports what
an earlier run already wrote as (id, content hash) pairs plus the model and
dimension, without reading a single vector back:

- JSON Lines: one ``{"id", "hash", "model", "vector"[, "sparse"][, "text"][,
  "fields"]}`` object per line, written in that key order, so that resume parses
  only the part of each line before ``"vector"``. A line cut off by a kill is dropped on resume.
- Parquet: a folder of part files (``part-00000.parquet``...) that pyarrow,
  pandas, DuckDB and Spark read as one table. Batches go first to a small
  JSON Lines journal inside the folder and are moved into a new part file
  every ``rows_per_part`` rows, so a killed run loses at most the rows still
  in flight; resume turns a leftover journal into a part file. Resume reads
  the ``id``, ``hash`` and ``model`` columns only.
- ``-``: JSON Lines on stdout (nothing to resume from).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .._exceptions import ConfigurationError
from .._types import SparseVector
from .columns import arrow_array, merge, multi_vector_array

__all__ = ["Existing", "JournaledSink", "JsonlSink", "OutputLock", "ParquetSink", "Row", "Sink", "StdoutSink"]

_VECTOR_KEY = ', "vector": '


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    hash: str
    vector: list[float]
    sparse: SparseVector | None = None
    text: str | None = None  # the text sent
    fields: Mapping[str, Any] | None = None  # the input row's other columns, passed through
    multi: Sequence[Sequence[float]] | None = None  # Ark's token-level vectors, when asked for


@dataclass
class Existing:
    """What an earlier run wrote: ``(id, hash, model)`` per row, read in one pass, and the
    dimension of its vectors."""

    rows: Iterator[tuple[str, str, str]]
    dimension: int | None


class OutputLock:
    """One job per output: an exclusive ``flock`` on a hidden file beside the output, taken when
    the sink is opened and released when it is closed (or by the system when the process dies,
    so a killed job never leaves a stale lock). The file holds the holder's process id."""

    _fd: int | None = None

    def __init__(self, output: Path) -> None:
        self.path = output.parent / f".{output.name}.lock"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ConfigurationError(
                f"{output} is in use by another job (process {holder}); wait for it to end or choose another --output"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def __del__(self) -> None:
        self.release()


class Sink:
    """Base of the sinks; ``write`` is called from one thread at a time. ``close()`` may be called
    more than once."""

    _lock: OutputLock | None = None

    def existing(self) -> Existing:
        return Existing(iter(()), None)

    def set_fields(self, kinds: dict[str, str]) -> None:
        """The kinds of the input's other columns (``columns.FieldKinds``), known before any request;
        a sink with typed columns checks them against what it already holds. JSON sinks keep the
        values as they came."""

    def write(self, rows: list[Row], model: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.release()

    settings_path: Path | None = None  # where the settings the vectors were made with are kept

    def recorded_settings(self) -> dict[str, Any] | None:
        """The settings an earlier run recorded (None: none recorded)."""
        if self.settings_path is None or not self.settings_path.exists():
            return None
        try:
            recorded = json.loads(self.settings_path.read_text(encoding="utf-8"))
        except ValueError:
            raise ConfigurationError(
                f"{self.settings_path} is damaged; delete it to accept the output's vectors as they are"
            ) from None
        return recorded if isinstance(recorded, dict) else None

    def record_settings(self, settings: dict[str, Any]) -> None:
        if self.settings_path is not None:
            self.settings_path.write_text(json.dumps(settings, sort_keys=True) + "\n", encoding="utf-8")

    def hold(self, lock: OutputLock) -> None:
        """Hold the output for this job (see :class:`OutputLock`); ``release`` or ``close`` lets go."""
        self._lock = lock

    def release(self) -> None:
        """Let another job open the output."""
        if self._lock is not None:
            self._lock.release()


try:  # 14x faster than json.dumps on a batch of float vectors, the same text
    import orjson

    def _dumps(value: Any) -> str:
        return orjson.dumps(value).decode()
except ImportError:  # pragma: no cover - the [fast] extra is not installed

    def _dumps(value: Any) -> str:
        return json.dumps(value)


def _line(row: Row, model: str) -> str:
    head = json.dumps({"id": row.id, "hash": row.hash, "model": model}, ensure_ascii=False)
    text = head[:-1] + _VECTOR_KEY + _dumps(row.vector)
    if row.sparse is not None:
        text += ', "sparse": ' + _dumps({str(k): v for k, v in row.sparse.items()})
    if row.multi is not None:
        text += ', "multi_vectors": ' + _dumps([list(r) for r in row.multi])
    if row.text is not None:  # after the vector: resume parses only what precedes it
        text += ', "text": ' + json.dumps(row.text, ensure_ascii=False)
    if row.fields:
        text += ', "fields": ' + json.dumps(row.fields, ensure_ascii=False, default=str)
    return text + "}\n"


def _cut_partial_line(path: Path) -> None:
    """A kill in the middle of a write leaves a last line without its newline: cut it off."""
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        if not size:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        keep = sum(len(raw) for raw in fh if raw.endswith(b"\n"))
        fh.truncate(keep)


def _read_lines(path: Path) -> Existing:
    """The rows of a JSON Lines output, parsing only what precedes each vector (and, once, the
    first vector for the dimension). A line that is not ours is refused when it is reached, which
    is still before any request."""
    _cut_partial_line(path)
    with open(path, "rb") as fh:
        first = _decoded(fh.readline(), path, 1)
    try:
        dimension = len(json.loads(first)["vector"]) if first else None
    except (ValueError, KeyError, TypeError):
        dimension = None
    rows = _rows_of_lines(path)
    if first:  # a foreign file is refused at once
        rows = itertools.chain([next(rows)], rows)
    return Existing(rows, dimension)


def _decoded(raw: bytes, path: Path, n: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"{path}:{n} is not UTF-8 text, so not a line cn-embeddings wrote; refusing to append "
            "(choose another --output)"
        ) from None


def _rows_of_lines(path: Path) -> Iterator[tuple[str, str, str]]:
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            line = _decoded(raw, path, n)
            at = line.find(_VECTOR_KEY)
            try:
                head = json.loads(line[:at] + "}") if at > 0 else None
            except ValueError:
                head = None
            if not isinstance(head, dict) or not {"id", "hash", "model"} <= set(head):
                raise ConfigurationError(
                    f"{path}:{n} is not a line cn-embeddings wrote; refusing to append (choose another --output)"
                )
            yield str(head["id"]), head["hash"], head["model"]


class JsonlSink(Sink):
    """Appends JSON Lines; flushed after every batch, synced to disk on close."""

    def __init__(self, path: Path) -> None:
        self.path: Path = path
        self._fh: IO[str] | None = None

    def existing(self) -> Existing:
        return _read_lines(self.path) if self.path.exists() else super().existing()

    def write(self, rows: list[Row], model: str) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._fh.write("".join(_line(row, model) for row in rows))
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        super().close()


class StdoutSink(Sink):
    """JSON Lines on stdout, for piping."""

    def write(self, rows: list[Row], model: str) -> None:
        sys.stdout.write("".join(_line(row, model) for row in rows))
        sys.stdout.flush()


class _Buffer:
    """Rows waiting for the next part file, vectors packed as float32 (4 bytes a value, not a
    Python float each)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.hashes: list[str] = []
        self.values = array("f")
        self.lengths: list[int] = []
        self.sparse: list[SparseVector | None] = []
        self.texts: list[str | None] = []
        self.fields: list[Mapping[str, Any] | None] = []
        self.multi: list[Sequence[Sequence[float]] | None] = []

    def add(self, row: Row) -> None:
        self.ids.append(row.id)
        self.hashes.append(row.hash)
        self.values.extend(row.vector)
        self.lengths.append(len(row.vector))
        self.sparse.append(row.sparse)
        self.texts.append(row.text)
        self.fields.append(row.fields)
        self.multi.append(row.multi)

    def __len__(self) -> int:
        return len(self.ids)

    def table(self, model: str, fields: Mapping[str, str], settings: Mapping[str, Any], fixed: bool) -> Any:
        """The buffered rows as one Arrow table (a row written twice: its last version)."""
        import pyarrow as pa

        keep = list(range(len(self.ids)))
        if len(set(self.ids)) < len(self.ids):
            last = {rid: i for i, rid in enumerate(self.ids)}
            keep = sorted(last.values())
        offsets = array("i", [0])
        for length in self.lengths:
            offsets.append(offsets[-1] + length)
        values = pa.Array.from_buffers(pa.float32(), len(self.values), [None, pa.py_buffer(self.values)])
        if fixed:
            vectors = pa.FixedSizeListArray.from_arrays(values, self.lengths[0])
        else:
            vectors = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
        columns: dict[str, Any] = {
            "id": pa.array(self.ids, pa.string()),
            "text": pa.array(self.texts, pa.string()),
            "vector": vectors,
            "model": pa.array([model] * len(self), pa.string()),
            "hash": pa.array(self.hashes, pa.string()),
        }
        if any(s is not None for s in self.sparse):
            columns["sparse"] = pa.array(
                [list((s or {}).items()) for s in self.sparse], pa.map_(pa.int32(), pa.float32())
            )
        if any(m is not None for m in self.multi):  # fixed: LanceDB's multivector column, rows of one width
            width = next(len(m[0]) for m in self.multi if m) if fixed else None
            columns["multi_vectors"] = multi_vector_array(self.multi, width)
        for name, kind in fields.items():  # the input's other columns, typed, in every block
            columns[name] = arrow_array(kind, [(f or {}).get(name) for f in self.fields])
        metadata = {"cn_embeddings.model": model, "cn_embeddings.dimension": str(self.lengths[0])}
        metadata["cn_embeddings.fields"] = json.dumps(dict(fields))
        if settings:  # what a reader needs to embed queries into the same space
            metadata["cn_embeddings.vendor"] = str(settings.get("vendor", ""))
            metadata["cn_embeddings.settings"] = json.dumps(dict(settings), sort_keys=True)
        table = pa.table(columns).replace_schema_metadata(metadata)
        return table if len(keep) == len(self.ids) else table.take(pa.array(keep, pa.int64()))


def _rows_of_journal(journal: Path) -> Iterator[tuple[Row, str]]:
    """Every row of a journal, whole, with its model (a journal holds at most one part's rows)."""
    with open(journal, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict) or not {"id", "hash", "model", "vector"} <= set(obj):
                    raise ValueError(line)
            except ValueError:
                raise ConfigurationError(
                    f"{journal}:{n} is damaged (not a whole row); delete that line (its row is embedded again), "
                    "or the whole journal, and run the same command again"
                ) from None
            sparse = {int(k): v for k, v in obj["sparse"].items()} if "sparse" in obj else None
            row = Row(
                obj["id"],
                obj["hash"],
                obj["vector"],
                sparse,
                obj.get("text"),
                obj.get("fields"),
                obj.get("multi_vectors"),
            )
            yield row, obj["model"]


class JournaledSink(Sink):
    """A sink that writes in large blocks (Parquet part files, LanceDB fragments), fed through a
    JSON Lines journal: each answered batch goes to the journal at once (so a kill loses nothing
    answered) and into a float32 buffer; every ``rows_per_block`` rows the buffer becomes one block
    and the journal starts again. A journal a killed run left is taken up by the next run: its rows
    not yet in a block wait in the buffer, and are written with that run's columns.

    Subclasses say where a block goes (``_write_block``) and read back what the blocks hold."""

    FIXED = False  # vectors as fixed-size lists (LanceDB) or lists (Parquet)

    def __init__(self, journal: Path, rows_per_block: int) -> None:
        self.rows_per_block = rows_per_block
        self._journal_path = journal
        self._journal = JsonlSink(journal)
        self._buffer = _Buffer()
        self._model: str | None = None
        self._written_fields: dict[str, str] = {}  # the input columns the blocks already hold, by kind
        self._fields: dict[str, str] = {}
        self._ready = False  # the columns are known: buffered rows may become a block
        self._settings: dict[str, Any] = {}  # the run's vector settings, kept in each block's schema metadata

    def _write_block(self, table: Any) -> None:
        raise NotImplementedError

    def _take_leftover_journal(self, written: Iterator[str]) -> list[Row]:
        """The rows of a journal a killed run left, those already in a block (``written``) dropped."""
        self._buffer = _Buffer()
        if not self._journal_path.exists():
            return []
        _cut_partial_line(self._journal_path)
        done = set(written)
        taken = []
        for row, written_by in _rows_of_journal(self._journal_path):
            self._model = written_by
            if row.id not in done:
                done.add(row.id)
                self._buffer.add(row)
                taken.append(row)
        return taken

    def set_fields(self, kinds: dict[str, str]) -> None:
        self._fields = merge(self._written_fields, kinds, str(self._journal_path.parent))
        self._ready = True

    def record_settings(self, settings: dict[str, Any]) -> None:
        self._settings = dict(settings)
        super().record_settings(settings)

    def write(self, rows: list[Row], model: str) -> None:
        self._journal_path.parent.mkdir(exist_ok=True)
        self._model, self._ready = model, True
        self._journal.write(rows, model)
        for row in rows:
            self._buffer.add(row)
        if len(self._buffer) >= self.rows_per_block:
            self._flush()

    def _flush(self) -> None:
        """The buffered rows as one block, then a new journal."""
        if self._model is None:
            return
        buf, self._buffer = self._buffer, _Buffer()
        self._write_block(buf.table(self._model, self._fields, self._settings, fixed=self.FIXED))
        self._journal.close()
        self._journal_path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._ready and len(self._buffer):
            self._flush()
        self._journal.close()
        super().close()


class ParquetSink(JournaledSink):
    """A folder of Parquet part files, fed through a JSON Lines journal (see the module docstring)."""

    JOURNAL = "_journal.jsonl"

    def __init__(self, path: Path, *, rows_per_part: int = 4096) -> None:
        import pyarrow  # noqa: F401 - fail here, before any request, when the extra is missing

        super().__init__(path / self.JOURNAL, rows_per_part)
        self.path: Path = path
        self._next_part: int | None = None  # found once, by the first part written

    def _parts(self) -> list[Path]:
        """The part files in number order (part-100000 comes after part-99999, not before)."""
        numbered = []
        for part in self.path.glob("part-*.parquet"):
            number = part.stem.split("-", 1)[1]
            if number.isdigit():
                numbered.append((int(number), part))
        return [part for _, part in sorted(numbered)]

    def existing(self) -> Existing:
        import pyarrow.parquet as pq

        if not self.path.exists():
            return super().existing()
        for leftover in self.path.glob(".part-*.tmp"):  # a part file a kill interrupted
            leftover.unlink()
        parts = self._parts()
        meta = (pq.read_schema(parts[-1]).metadata or {}) if parts else {}
        self._written_fields = json.loads(meta.get(b"cn_embeddings.fields", b"{}"))
        journal = self._take_leftover_journal(rid for rid, _, _ in self._rows(parts))
        dimension = int(meta.get(b"cn_embeddings.dimension", b"0")) or (len(journal[0].vector) if journal else 0)
        pending = ((row.id, row.hash, self._model or "") for row in journal)
        return Existing(itertools.chain(self._rows(parts), pending), dimension or None)

    def _rows(self, parts: list[Path]) -> Iterator[tuple[str, str, str]]:
        """(id, hash, model) of every row, reading the id and hash columns only."""
        import pyarrow.parquet as pq

        for part in parts:
            meta = pq.read_schema(part).metadata or {}
            if b"cn_embeddings.model" not in meta:
                raise ConfigurationError(
                    f"{part} was not written by cn-embeddings; refusing to add to {self.path} (choose another --output)"
                )
            model = meta[b"cn_embeddings.model"].decode()
            table = pq.read_table(part, columns=["id", "hash"])
            for rid, digest in zip(table.column("id").to_pylist(), table.column("hash").to_pylist(), strict=True):
                yield rid, digest, model

    def _write_block(self, table: Any) -> None:
        """The next part file, written atomically (a temporary file renamed)."""
        import pyarrow.parquet as pq

        if self._next_part is None:  # the folder is scanned once a job, not once a part
            parts = self._parts()
            self._next_part = int(parts[-1].stem.split("-", 1)[1]) + 1 if parts else 0
        number, self._next_part = self._next_part, self._next_part + 1
        final = self.path / f"part-{number:05d}.parquet"  # five digits at least, more when needed
        temporary = self.path / f".{final.name}.tmp"  # hidden: readers of the folder skip it
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, final)
