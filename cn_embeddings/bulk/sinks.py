"""Where a bulk job's vectors go: what every sink shares, and JSON Lines or stdout.

Every sink writes each answered batch as soon as it arrives, and reports what
an earlier run already wrote as (id, content hash) pairs plus the model and
dimension, without reading a single vector back:

- JSON Lines: one ``{"id", "hash", "model", "vector"[, "sparse"][, "text"][,
  "fields"]}`` object per line, written in that key order, so that resume parses
  only the part of each line before ``"vector"``. A line cut off by a kill is dropped on resume.
- Parquet and LanceDB: written in blocks through a journal (:mod:`.parquet`).
- ``-``: JSON Lines on stdout (nothing to resume from).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from .._exceptions import ConfigurationError
from .._types import SparseVector

__all__ = ["Existing", "Held", "JsonlSink", "OutputLock", "Row", "SettingsFile", "Sink", "StdoutSink"]

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


NOTHING = Existing(iter(()), None)  # what an output that is not there yet holds


class Sink(Protocol):
    """What the bulk job writes to. ``write`` is called from one thread at a time; ``close()`` may
    be called more than once. :func:`~cn_embeddings.bulk.open_sink` returns one held for the job
    (:class:`Held`: the output's lock and settings file composed in)."""

    def existing(self) -> Existing:
        """What an earlier run wrote."""
        ...

    def set_fields(self, kinds: dict[str, str]) -> None:
        """The kinds of the input's other columns (``columns.FieldKinds``), known before any
        request; a sink with typed columns checks them against what it already holds."""
        ...

    def use_settings(self, settings: dict[str, Any]) -> None:
        """The settings the vectors are made with (a block format keeps them in its metadata)."""
        ...

    def write(self, rows: list[Row], model: str) -> None: ...

    def close(self) -> None: ...


class SettingsFile:
    """The settings an output's vectors were made with, kept in a file beside it, so that a resume
    with other settings is refused before any request (``bulk.job``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def recorded(self) -> dict[str, Any] | None:
        """The settings an earlier run recorded (None: none recorded)."""
        if not self.path.exists():
            return None
        try:
            recorded = json.loads(self.path.read_text(encoding="utf-8"))
        except ValueError:
            raise ConfigurationError(
                f"{self.path} is damaged; delete it to accept the output's vectors as they are"
            ) from None
        return recorded if isinstance(recorded, dict) else None

    def record(self, settings: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(settings, sort_keys=True) + "\n", encoding="utf-8")


class Held:
    """A sink held for one job: the output's lock (released on close) and its settings file, when
    it has them (stdout and a Qdrant server have neither). A sink given to the job bare is held
    with neither."""

    def __init__(self, sink: Sink, lock: OutputLock | None = None, settings: SettingsFile | None = None) -> None:
        self.sink, self.lock, self.settings = sink, lock, settings

    def existing(self) -> Existing:
        return self.sink.existing()

    def set_fields(self, kinds: dict[str, str]) -> None:
        self.sink.set_fields(kinds)

    def use_settings(self, settings: dict[str, Any]) -> None:
        """Give the sink the settings, and record them beside the output."""
        self.sink.use_settings(settings)
        if self.settings is not None:
            self.settings.record(settings)

    def recorded_settings(self) -> dict[str, Any] | None:
        """The settings recorded beside the output, else in it (a Qdrant collection's metadata)."""
        if self.settings is not None:
            return self.settings.recorded()
        recorded = getattr(self.sink, "recorded_settings", None)
        return recorded() if recorded is not None else None

    def write(self, rows: list[Row], model: str) -> None:
        self.sink.write(rows, model)

    def edit(self, drop: Any, rewrite: Any, model: str) -> None:
        """An update's edits (see :mod:`.update`), by the sink."""
        self.sink.edit(drop, rewrite, model)  # type: ignore[attr-defined]

    def close(self) -> None:
        try:
            self.sink.close()
        finally:
            if self.lock is not None:
                self.lock.release()


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


def cut_partial_line(path: Path) -> None:
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
    cut_partial_line(path)
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


class JsonlSink:
    """Appends JSON Lines; flushed after every batch, synced to disk on close. Other columns are
    kept as they came, and the settings only beside the output."""

    def __init__(self, path: Path) -> None:
        self.path: Path = path
        self._fh: IO[str] | None = None

    def existing(self) -> Existing:
        return _read_lines(self.path) if self.path.exists() else NOTHING

    def set_fields(self, kinds: dict[str, str]) -> None:
        pass

    def use_settings(self, settings: dict[str, Any]) -> None:
        pass

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


class StdoutSink(JsonlSink):
    """JSON Lines on stdout, for piping (nothing to resume from)."""

    def __init__(self) -> None:
        super().__init__(Path("-"))

    def existing(self) -> Existing:
        return NOTHING

    def close(self) -> None:
        pass

    def write(self, rows: list[Row], model: str) -> None:
        sys.stdout.write("".join(_line(row, model) for row in rows))
        sys.stdout.flush()
