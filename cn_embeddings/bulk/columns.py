"""The input's other columns (title, source, page...) as typed output columns.

JSON Lines and Qdrant keep them as JSON, as they came. Parquet and LanceDB give each its own typed
column, and a column's type must be the same in every part of a Parquet folder and every batch of a
LanceDB table. So the first pass, which reads every input before any request, decides each
column's kind from every value it sees (:class:`FieldKinds`), and a sink checks those kinds against
what an earlier run wrote, before any request (:func:`merge`).

The kinds: ``string``, ``int64``, ``float64`` (integers and floats mixed), ``bool``, and ``json``
(anything else, a column whose values mix other types, or integers beyond what int64 holds: the
value as JSON text, so nothing is lost). None is a null in any kind; a column with only None is a
string column. A value that no output can write (text with a lone surrogate, which is not valid
Unicode) is refused in the first pass, naming the row and the column, before any request.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._exceptions import ConfigurationError, InvalidInputError

__all__ = ["RESERVED", "FieldKinds", "arrow_array", "arrow_kind", "kind_of_arrow", "merge", "multi_vector_array"]

# the columns the job writes itself: an input column of one of these names would be overwritten
RESERVED = frozenset({"id", "text", "hash", "model", "vector", "sparse", "multi_vectors"})


class FieldKinds:
    """The Python types seen per input column, in the order columns first appear."""

    def __init__(self) -> None:
        self._types: dict[str, set[type]] = {}
        self._wide: set[str] = set()  # integer columns with a value beyond int64

    def add(self, fields: Mapping[str, Any], origin: str) -> None:
        for name, value in fields.items():
            if name in RESERVED:
                raise ConfigurationError(
                    f"{origin}: the input column {name!r} has the name of a column the job writes itself "
                    f"({', '.join(sorted(RESERVED))}); rename it (nothing was sent)"
                )
            kind = type(value)
            self._types.setdefault(name, set()).add(kind)
            if kind is str:
                _check_text(value, name, origin)
            elif kind is int:
                if not INT64_MIN <= value <= INT64_MAX:
                    self._wide.add(name)
            elif kind not in (float, bool, type(None)):  # lists and objects: their strings, as written
                _check_text(json.dumps(value, ensure_ascii=False, default=str), name, origin)

    def kinds(self) -> dict[str, str]:
        kinds = {name: _kind(types) for name, types in self._types.items()}
        return {name: "json" if name in self._wide and kind != "json" else kind for name, kind in kinds.items()}


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _check_text(text: str, name: str, origin: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidInputError(
            f"{origin}: column {name!r} holds text that is not valid Unicode (a lone surrogate at character "
            f"{error.start}); no output can write it, so fix or drop it (nothing was sent)",
            rule="text",
        ) from None


def _kind(types: set[type]) -> str:
    seen = types - {type(None)}
    if not seen or seen == {str}:
        return "string"
    if seen == {bool}:
        return "bool"
    if seen == {int}:
        return "int64"
    if seen <= {int, float}:
        return "float64"
    return "json"


def merge(written: Mapping[str, str], wanted: Mapping[str, str], where: str) -> dict[str, str]:
    """The columns of an output that already holds ``written`` and now gets ``wanted``: a column of
    another kind, or a new column, would change the output's schema, so it is refused."""
    if not written:
        return dict(wanted)
    changed = [f"{n} ({written[n]} there, {k} now)" for n, k in wanted.items() if n in written and written[n] != k]
    new = [n for n in wanted if n not in written]
    if changed or new:
        said = "; ".join([*(f"changed: {c}" for c in changed), *([f"new: {', '.join(new)}"] if new else [])])
        raise ConfigurationError(
            f"{where} holds other input columns ({said}); resume with the same input columns, or write to "
            "another --output (nothing was sent)"
        )
    return dict(written)


def arrow_kind(kind: str) -> Any:
    import pyarrow as pa

    return {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}.get(
        kind, pa.string()
    )


def kind_of_arrow(arrow_type: Any) -> str:
    """The kind a column of an existing table has (a JSON column reads as a string column)."""
    import pyarrow as pa

    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_integer(arrow_type):
        return "int64"
    if pa.types.is_floating(arrow_type):
        return "float64"
    return "string"


def arrow_array(kind: str, values: Iterable[Any]) -> Any:
    """One typed column from the rows' values (None: null)."""
    import pyarrow as pa

    if kind == "json":
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in values])
    if kind == "float64":
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array(list(values), arrow_kind(kind))


def multi_vector_array(rows: Sequence[Sequence[Sequence[float]] | None], width: int | None = None) -> Any:
    """Each input's token-level vectors as one list of float32 rows (None where not asked for);
    ``width``: rows of that fixed size (LanceDB's multivector columns), else of any length. Built
    from the float32 values directly, never a Python float each."""
    import pyarrow as pa

    values = array("f")
    inner = array("i", [0])  # row offsets
    outer = array("i", [0])  # input offsets, in rows
    valid = []
    for vectors in rows:
        valid.append(vectors is not None)
        for row in vectors or ():
            values.extend(row)
            inner.append(len(values))
        outer.append(len(inner) - 1)
    flat = pa.Array.from_buffers(pa.float32(), len(values), [None, pa.py_buffer(values)])
    if width is not None:
        row_array = pa.FixedSizeListArray.from_arrays(flat, width)
    else:
        row_array = pa.ListArray.from_arrays(pa.array(inner, pa.int32()), flat)
    mask = pa.array([not v for v in valid])
    return pa.ListArray.from_arrays(pa.array(outer, pa.int32()), row_array, mask=mask)
