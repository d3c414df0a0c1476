"""Sinks that write in large blocks through a journal: Parquet part files here, LanceDB fragments
in :mod:`.lance`.

- Parquet: a folder of part files (``part-00000.parquet``...) that pyarrow, pandas, DuckDB and
  Spark read as one table. Batches go first to a small JSON Lines journal inside the folder and
  are moved into a new part file every ``rows_per_part`` rows, so a killed run loses at most the
  rows still in flight; resume turns a leftover journal into a part file. Resume reads the
  ``id``, ``hash`` and ``model`` columns only.
"""

from __future__ import annotations

import itertools
import json
import os
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError
from .._types import SparseVector
from .columns import arrow_array, merge, multi_vector_array
from .sinks import NOTHING, Existing, JsonlSink, Row, cut_partial_line
from .update import Rewrite, with_new_columns

__all__ = ["JournaledSink", "ParquetSink"]


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
            if "space" in settings:  # the embedding space with its id (cn_embeddings._space)
                metadata["cn_embeddings.space"] = json.dumps(settings["space"], sort_keys=True)
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


class JournaledSink:
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
        cut_partial_line(self._journal_path)
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

    def use_settings(self, settings: dict[str, Any]) -> None:
        self._settings = dict(settings)

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

    def edit(self, drop: Callable[[str], bool], rewrite: Rewrite, model: str) -> None:
        """An update's edits (:mod:`.update`): rows a killed run left in the journal become a
        block first, so every row is in a block the edit can change."""
        if len(self._buffer):
            self._flush()
        self._edit_blocks(drop, rewrite)

    def _edit_blocks(self, drop: Callable[[str], bool], rewrite: Rewrite) -> None:
        raise NotImplementedError

    def _metadata(self, old: Mapping[bytes, bytes] | None) -> dict[bytes, bytes]:
        """A block's schema metadata after an edit: the run's settings and space over the old."""
        metadata = dict(old or {})
        metadata[b"cn_embeddings.fields"] = json.dumps(dict(self._fields)).encode()
        if self._settings:
            metadata[b"cn_embeddings.settings"] = json.dumps(self._settings, sort_keys=True).encode()
            if "space" in self._settings:
                metadata[b"cn_embeddings.space"] = json.dumps(self._settings["space"], sort_keys=True).encode()
        return metadata


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
            return NOTHING
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

    def _edit_blocks(self, drop: Callable[[str], bool], rewrite: Rewrite) -> None:
        """Each part that holds a row to drop or rewrite is written again without those rows and
        with the rewritten ones, and replaces itself at once (a rename): a kill leaves either part."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        for part in self._parts():
            table = pq.read_table(part)
            ids = table.column("id").to_pylist()
            dropped = [drop(rid) for rid in ids]
            changed = [rid in rewrite and not gone for rid, gone in zip(ids, dropped, strict=True)]
            if not any(dropped) and not any(changed):
                continue
            kept = table.filter(pa.array([not (d or c) for d, c in zip(dropped, changed, strict=True)]))
            blocks = [kept]
            if any(changed):
                blocks.append(with_new_columns(table.filter(pa.array(changed)), rewrite, self._fields))
            edited = pa.concat_tables(blocks, promote_options="permissive")
            if edited.num_rows == 0:
                part.unlink()
                continue
            edited = edited.replace_schema_metadata(self._metadata(table.schema.metadata))
            temporary = self.path / f".{part.name}.tmp"
            pq.write_table(edited, temporary, compression="zstd")
            os.replace(temporary, part)

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
