"""A LanceDB table as a bulk job's output: ``--output DIR/NAME.lance``.

LanceDB is embedded (no server) and Arrow-native, so the table the job writes
is a vector store at once: ``lancedb.connect(DIR).open_table(NAME).search(q)``,
or LangChain's and LlamaIndex's LanceDB stores over it. Each row holds ``id``,
``text`` (None for an image or video), ``hash`` (of the content sent),
``model``, ``vector`` (float32, fixed size) and, when asked for, ``sparse``;
the schema's metadata names the vendor's model and the dimension.

Resumable like the files: ``existing()`` reads the ``id``, ``hash`` and
``model`` columns only, and every batch is written with an upsert on ``id``
(``merge_insert``), so a batch written twice (a kill between the write and the
next run's read) is still one row per id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError
from .columns import arrow_array, kind_of_arrow, merge, multi_vector_array
from .sinks import Existing, Row, Sink

_OURS = ("id", "text", "hash", "model", "vector", "sparse", "multi_vectors")

__all__ = ["LanceSink"]


class LanceSink(Sink):
    """The LanceDB table ``name`` in the database folder ``folder`` (created when missing)."""

    def __init__(self, folder: Path, name: str) -> None:
        try:
            import lancedb
        except ImportError:
            raise ConfigurationError("LanceDB output needs lancedb: pip install 'cn-embeddings[lancedb]'") from None
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.name = folder, name
        self._db = lancedb.connect(str(folder))
        self._table: Any = None
        self._written_fields: dict[str, str] = {}
        self._fields: dict[str, str] = {}

    def _open(self) -> Any:
        if self._table is None:
            try:
                self._table = self._db.open_table(self.name)
            except ValueError:  # not found
                return None
        return self._table

    def existing(self) -> Existing:
        table = self._open()
        if table is None:
            return super().existing()
        names = table.schema.names
        if not {"id", "hash", "model", "vector"} <= set(names):
            raise ConfigurationError(
                f"table {self.name!r} in {self.folder} was not written by cn-embeddings (columns: {names}); "
                "choose another --output"
            )
        dimension = table.schema.field("vector").type.list_size
        self._written_fields = {f.name: kind_of_arrow(f.type) for f in table.schema if f.name not in _OURS}
        columns = table.search().select(["id", "hash", "model"]).limit(None).to_arrow()
        rows = zip(
            columns.column("id").to_pylist(),
            columns.column("hash").to_pylist(),
            columns.column("model").to_pylist(),
            strict=True,
        )
        return Existing(iter(rows), dimension)

    def set_fields(self, kinds: dict[str, str]) -> None:
        # a JSON column reads back as a string column
        wanted = {name: "string" if kind == "json" else kind for name, kind in kinds.items()}
        self._fields = merge(self._written_fields, wanted, f"table {self.name!r} in {self.folder}")
        self._json = {name for name, kind in kinds.items() if kind == "json"}

    _json: set[str] = set()

    def write(self, rows: list[Row], model: str) -> None:
        import pyarrow as pa

        dimension = len(rows[0].vector)
        values = pa.array([v for row in rows for v in row.vector], pa.float32())
        columns: dict[str, Any] = {
            "id": pa.array([row.id for row in rows], pa.string()),
            "text": pa.array([row.text for row in rows], pa.string()),
            "hash": pa.array([row.hash for row in rows], pa.string()),
            "model": pa.array([model] * len(rows), pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(values, dimension),
        }
        if any(row.sparse is not None for row in rows):
            columns["sparse"] = pa.array(
                [list((row.sparse or {}).items()) for row in rows], pa.map_(pa.int32(), pa.float32())
            )
        multi = [row.multi for row in rows]
        if any(m is not None for m in multi):  # LanceDB's multivector column: rows of one width, for MaxSim
            width = next(len(m[0]) for m in multi if m)
            columns["multi_vectors"] = multi_vector_array(multi, width)
        for name, kind in self._fields.items():  # the input's other columns, typed
            values = [(row.fields or {}).get(name) for row in rows]
            columns[name] = arrow_array("json" if name in self._json else kind, values)
        data = pa.table(columns).replace_schema_metadata(
            {"cn_embeddings.model": model, "cn_embeddings.dimension": str(dimension)}
        )
        table = self._open()
        if table is None:
            self._table = self._db.create_table(self.name, data)
        else:
            table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(data)
