"""A LanceDB table as a bulk job's output: ``--output DIR/NAME.lance``.

LanceDB is embedded (no server) and Arrow-native, so the table the job writes
is a vector store at once: ``lancedb.connect(DIR).open_table(NAME).search(q)``,
or LangChain's and LlamaIndex's LanceDB stores over it. Each row holds ``id``,
``text`` (None for an image or video), ``hash`` (of the content sent),
``model``, ``vector`` (float32, fixed size) and, when asked for, ``sparse``;
the schema's metadata names the vendor's model and the dimension.

Resumable like the files: ``existing()`` reads the ``id``, ``hash`` and
``model`` columns only. Rows reach the table through a journal, a block at a
time (see :class:`~cn_embeddings.bulk.parquet.JournaledSink`); a LanceDB write is
atomic (a new version), so a kill leaves the table as it was before the block
and the journal holds the rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError
from .columns import kind_of_arrow, merge
from .parquet import JournaledSink
from .sinks import Existing
from .update import Rewrite, with_new_columns

_OURS = ("id", "text", "hash", "model", "vector", "sparse", "multi_vectors")


def _rows(columns: Any) -> Iterator[tuple[str, str, str]]:
    """(id, hash, model) per row of an Arrow table, a record batch of Python values at a time."""
    if columns is None:
        return
    for batch in columns.to_batches(max_chunksize=4096):
        yield from zip(*(batch.column(name).to_pylist() for name in ("id", "hash", "model")), strict=True)


__all__ = ["LanceSink"]

_IN_LIST = 500  # ids per SQL IN list


def _sql_strings(values: list[str]) -> str:
    """Values as SQL string literals (a quote doubled), for a LanceDB filter."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


class LanceSink(JournaledSink):
    """The LanceDB table ``name`` in the database folder ``folder`` (created when missing).

    Rows go through a journal beside the table (``.NAME.journal.jsonl``) and into the table
    ``rows_per_block`` at a time: each LanceDB write is a new version with a new fragment, so
    writing every answered batch (16 rows) would make tens of thousands of fragments and slow
    every later write."""

    FIXED = True

    def __init__(self, folder: Path, name: str, *, rows_per_block: int = 4096) -> None:
        try:
            import lancedb
        except ImportError:
            raise ConfigurationError("LanceDB output needs lancedb: pip install 'cn-embeddings[lancedb]'") from None
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder / f".{name}.journal.jsonl", rows_per_block)
        self.folder, self.name = folder, name
        self._db = lancedb.connect(str(folder))
        self._table: Any = None
        self._json: set[str] = set()  # input columns of mixed types, kept as JSON text

    def _open(self) -> Any:
        if self._table is None:
            try:
                self._table = self._db.open_table(self.name)
            except ValueError:  # not found
                return None
        return self._table

    def existing(self) -> Existing:
        table = self._open()
        written: Any = None  # the id, hash and model columns, kept in Arrow until read
        dimension = None
        if table is not None:
            names = table.schema.names
            if not {"id", "hash", "model", "vector"} <= set(names):
                raise ConfigurationError(
                    f"table {self.name!r} in {self.folder} was not written by cn-embeddings (columns: {names}); "
                    "choose another --output"
                )
            dimension = table.schema.field("vector").type.list_size
            self._written_fields = {f.name: kind_of_arrow(f.type) for f in table.schema if f.name not in _OURS}
            written = table.search().select(["id", "hash", "model"]).limit(None).to_arrow()
        journal = self._take_leftover_journal(rid for rid, _, _ in _rows(written))
        if dimension is None and journal:
            dimension = len(journal[0].vector)
        pending = ((row.id, row.hash, self._model or "") for row in journal)
        return Existing(itertools.chain(_rows(written), pending), dimension)

    def set_fields(self, kinds: dict[str, str]) -> None:
        dotted = [name for name in kinds if "." in name]
        if dotted:  # LanceDB reads a dot as a path into a nested field
            raise ConfigurationError(
                f"LanceDB cannot name a column {dotted[0]!r} (a dot means a nested field); rename it in the "
                "input, or write to .parquet or .jsonl (nothing was sent)"
            )
        # a JSON column reads back as a string column
        self._json = {name for name, kind in kinds.items() if kind == "json"}
        wanted = {name: "string" if kind == "json" else kind for name, kind in kinds.items()}
        merged = merge(self._written_fields, wanted, f"table {self.name!r} in {self.folder}")
        self._fields = {name: "json" if name in self._json else kind for name, kind in merged.items()}
        self._ready = True

    def _edit_blocks(self, drop: Callable[[str], bool], rewrite: Rewrite) -> None:
        """Rows to drop are deleted, rows to rewrite merged back with their new columns: each a
        LanceDB version of its own, so a kill leaves the table at one of them."""
        table = self._open()
        if table is None:
            return
        ids = table.search().select(["id"]).limit(None).to_arrow().column("id").to_pylist()
        gone = [rid for rid in ids if drop(rid)]
        for at in range(0, len(gone), _IN_LIST):
            table.delete(f"id IN ({_sql_strings(gone[at : at + _IN_LIST])})")
        changed = [rid for rid in ids if rid in rewrite and not drop(rid)]
        for at in range(0, len(changed), _IN_LIST):
            chunk = changed[at : at + _IN_LIST]
            rows = table.search().where(f"id IN ({_sql_strings(chunk)})").limit(None).to_arrow()
            rows = rows.select([name for name in rows.column_names if not name.startswith("_")])
            kinds = {name: "string" if kind == "json" else kind for name, kind in self._fields.items()}
            rows = with_new_columns(rows, rewrite, kinds).cast(table.schema)
            table.merge_insert("id").when_matched_update_all().execute(rows)

    def _write_block(self, table: Any) -> None:
        if self._open() is None:
            self._table = self._db.create_table(self.name, table)
        else:
            self._table.add(table)
