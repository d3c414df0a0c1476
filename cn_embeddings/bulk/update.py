"""Updating an output in place to match an edited corpus (``--update``).

The first pass of the job (:mod:`.job`) compares every input with the row its id has in the
output, on two digests written in the row's ``hash`` (``CONTENT.COLUMNS``): the content sent
and the input's other columns. Then, before any request:

- a row whose content changed is removed, and its input is embedded again like a new one;
- a row whose other columns alone changed is rewritten with its vector as it is (no request);
- with ``delete_missing``, a row that no input names any more is removed;
- unchanged rows are not touched, and new ids are embedded and added as in any run.

Each sink makes each edit atomic (a Parquet part file replaced by a rename, a LanceDB version, a
Qdrant operation), and removes a changed row before its new vector is written, so a job killed
at any point leaves no row with its old vector beside its new text: rerunning the same command
finds the removed rows missing and embeds them, and finds the columns not yet rewritten and
rewrites them. JSON Lines is append-only, so it cannot be updated: the job says to use Parquet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .._exceptions import ConfigurationError

__all__ = ["Editable", "apply_edits", "check_updatable", "with_new_columns"]

Rewrite = Mapping[str, tuple[str, Mapping[str, Any] | None]]  # id -> (its new hash, its new columns)


class Editable(Protocol):
    """A sink an update can edit: ``drop`` says which ids to remove, ``rewrite`` which rows get
    new columns (and hash) with their vectors kept."""

    def edit(self, drop: Callable[[str], bool], rewrite: Rewrite, model: str) -> None: ...


def check_updatable(sink: Any) -> None:
    inner = getattr(sink, "sink", sink)
    if not callable(getattr(inner, "edit", None)):
        raise ConfigurationError(
            "--update rewrites rows in place, which a JSON Lines file or stdout cannot do; write to "
            "NAME.parquet, DIR/NAME.lance or a Qdrant collection instead (nothing was sent)"
        )


def apply_edits(
    sink: Any, plan: Any, summary: Any, model: str, delete_missing: bool, key: Callable[[str], int]
) -> None:
    """The edits the first pass found (``plan``: the job's), before any request."""
    missing = plan.done.unseen() if delete_missing else set()
    drop = plan.replaced | missing
    summary.deleted = len(missing)
    if drop or plan.rewrite:
        getattr(sink, "sink", sink).edit(lambda rid: key(rid) in drop, plan.rewrite, model)


def with_new_columns(table: Any, rewrite: Rewrite, kinds: Mapping[str, str]) -> Any:
    """The rows of an Arrow ``table`` (each of them in ``rewrite``) with their new hash and
    columns, vectors untouched: a column of ``kinds`` an input no longer has becomes null."""
    import pyarrow as pa

    from .columns import arrow_array

    new = [rewrite[rid] for rid in table.column("id").to_pylist()]
    table = table.set_column(
        table.schema.get_field_index("hash"), "hash", pa.array([digest for digest, _ in new], pa.string())
    )
    for name, kind in kinds.items():
        column = arrow_array(kind, [(fields or {}).get(name) for _, fields in new])
        at = table.schema.get_field_index(name)
        if at >= 0:
            table = table.set_column(at, name, column.cast(table.schema.field(name).type))
        else:
            table = table.append_column(name, column)
    return table
