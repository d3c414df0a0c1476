"""Where a bulk job's inputs come from, read lazily and re-readable.

A source is iterated twice: once to check every input before anything is
sent, once to send. Each iteration reopens the files, so memory does not
grow with the corpus. Every record carries its ``origin`` (``corpus.csv:900``)
so that an error names the line, and an ``id`` when the input has one
(otherwise the job uses a hash of the content).

Text files are UTF-8, with or without a byte-order mark; relative image and
video paths in a file resolve against that file's folder.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import InvalidInputError

__all__ = ["IMAGE_SUFFIXES", "Columns", "Record", "Source"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
INPUT_SUFFIXES = (".txt", ".jsonl", ".csv", ".parquet")


@dataclass(frozen=True, slots=True)
class Record:
    """One input: its id (None: the job derives one from the content), the content as ``embed``
    takes it, and where it came from."""

    id: str | None
    content: Any
    origin: str
    fields: Mapping[str, Any] = field(default_factory=dict)  # the row's other columns, passed through


@dataclass(frozen=True)
class Columns:
    """Which fields of a .jsonl, .csv or .parquet row hold the id, text, image and video."""

    id: str = "id"
    text: str = "text"
    image: str = "image"
    video: str = "video"
    id_required: bool = False  # the id column was named (--id-column): a file without it is refused


class Source:
    """A re-iterable sequence of records: texts given inline, image files and folders, and input
    files (``.txt`` one text per line; ``.jsonl``, ``.csv``, ``.parquet`` rows)."""

    def __init__(
        self,
        texts: Iterable[str] = (),
        images: Iterable[str | Path] = (),
        files: Iterable[str | Path] = (),
        columns: Columns | None = None,
    ) -> None:
        self.texts = list(texts)
        self.images = [Path(p) for p in images]
        self.files = [Path(p) for p in files]
        self.columns = columns or Columns()
        for path in self.files:
            if path.suffix.lower() not in INPUT_SUFFIXES:
                raise InvalidInputError(
                    f"{path}: unsupported input type {path.suffix or '(none)'} (use {', '.join(INPUT_SUFFIXES)})",
                    rule="input-type",
                )
            if not path.is_file():
                raise InvalidInputError(f"input file not found: {path}", rule="file-exists")
        for path in self.images:
            if not path.exists():
                raise InvalidInputError(f"image file or folder not found: {path}", rule="file-exists")

    def __iter__(self) -> Iterator[Record]:
        for n, text in enumerate(self.texts, 1):
            yield Record(None, text, f"--text #{n}")
        for path in self.images:
            yield from _image_records(path)
        for path in self.files:
            yield from _FILE_READERS[path.suffix.lower()](path, self.columns)


def _image_records(path: Path) -> Iterator[Record]:
    """An image's id never depends on how its path was spelled (relative, absolute, from another
    folder), so that a rerun resumes: in a folder, the folder's name and the path within it
    (``photos/2024/cat.png``); a single file, its content hash."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise InvalidInputError(f"no image files in folder {path}", rule="file-exists")
        root = path.resolve().name
        for file in files:
            yield Record(f"{root}/{file.relative_to(path).as_posix()}", {"image": file}, str(file))
    else:
        yield Record(None, {"image": path}, str(path))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a UTF-8 file (a leading BOM dropped), decoded one at a time so that a bad
    byte is reported with its line."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InvalidInputError(
                    f"{path}:{n} is not UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1})", rule="utf-8"
                ) from None
            if n == 1:
                line = line.removeprefix("\ufeff")
            yield n, line.rstrip("\r\n")


def _read_txt(path: Path, columns: Columns) -> Iterator[Record]:
    for n, line in _lines(path):
        if line.strip():
            yield Record(None, line, f"{path}:{n}")


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_WORDS: dict[str, Any] = {"true": True, "false": False, "": None}


def _typed_cells(row: dict[str, Any], columns: Columns) -> dict[str, Any]:
    """A CSV row's other columns typed as JSON Lines would give them: a cell written as a JSON number
    is a number (``02134`` is not one, so a zip code stays text), ``true``/``false`` a bool, an empty
    cell null. The id, text and media columns stay as written."""
    kept = {columns.id, columns.text, columns.image, columns.video}
    for name, cell in row.items():
        if name in kept:
            continue
        if cell in _JSON_WORDS:
            row[name] = _JSON_WORDS[cell]
        elif _JSON_NUMBER.fullmatch(cell):
            row[name] = json.loads(cell)
    return row


def _read_jsonl(path: Path, columns: Columns) -> Iterator[Record]:
    for n, line in _lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise InvalidInputError(f"{path}:{n} is not valid JSON", rule="jsonl") from None
        if not isinstance(row, dict):
            raise InvalidInputError(f"{path}:{n} is not a JSON object", rule="jsonl")
        yield _from_row(row, path, f"{path}:{n}", columns)


def _read_csv(path: Path, columns: Columns) -> Iterator[Record]:
    """Rows of a CSV file read as CSV (``newline=''``, so a quoted cell keeps its line breaks); a
    column named twice or a row with another number of fields than the header is refused."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, [])
            repeated = sorted({name for name in header if header.count(name) > 1})
            if repeated:
                raise InvalidInputError(f"{path}: column {repeated[0]!r} is named twice", rule="csv")
            _check_columns(path, header, columns)
            for cells in reader:
                if not cells:
                    continue  # a blank line
                if len(cells) != len(header):
                    fields = f"{len(cells)} field" + ("s" if len(cells) != 1 else "")
                    raise InvalidInputError(
                        f"{path}:{reader.line_num}: {fields}, the header has {len(header)}", rule="csv"
                    )
                row = dict(zip(header, cells, strict=True))
                yield _from_row(_typed_cells(row, columns), path, f"{path}:{reader.line_num}", columns)
        except UnicodeDecodeError as error:
            raise InvalidInputError(
                f"{path}:{reader.line_num + 1} is not UTF-8 ({error.reason})", rule="utf-8"
            ) from None
        except csv.Error as error:
            raise InvalidInputError(f"{path}:{reader.line_num}: not valid CSV ({error})", rule="csv") from None


def _check_columns(path: Path, names: list[str], columns: Columns) -> None:
    """A file with columns (CSV, Parquet) must hold the named id column and a text or image one."""
    if columns.id_required and columns.id not in names:
        raise InvalidInputError(f"{path}: no id column {columns.id!r} (columns: {names})", rule="columns")
    if columns.text not in names and columns.image not in names:
        raise InvalidInputError(
            f"{path}: no column {columns.text!r} or {columns.image!r} (columns: {names}); "
            "name one with --text-column or --image-column",
            rule="columns",
        )


def _read_parquet(path: Path, columns: Columns) -> Iterator[Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - the [bulk] extra
        raise InvalidInputError(
            "reading .parquet needs pyarrow: pip install 'cn-embeddings[bulk]'", rule="dependency"
        ) from None
    import pyarrow as pa

    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise InvalidInputError(f"{path}: not a readable Parquet file ({error})", rule="parquet") from None
    names = file.schema_arrow.names
    _check_columns(path, names, columns)
    row_number = 0
    batches = file.iter_batches(batch_size=1024)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as error:  # a damaged row group
            raise InvalidInputError(f"{path}: row {row_number} on cannot be read ({error})", rule="parquet") from None
        if batch is None:
            return
        for row in batch.to_pylist():
            yield _from_row(row, path, f"{path}:row {row_number}", columns)
            row_number += 1


_FILE_READERS = {".txt": _read_txt, ".jsonl": _read_jsonl, ".csv": _read_csv, ".parquet": _read_parquet}


def _from_row(row: Mapping[str, Any], path: Path, origin: str, columns: Columns) -> Record:
    """A row's content: a bare text, or a mapping with media paths resolved against ``path``'s folder."""
    content: dict[str, Any] = {}
    for key, column in (("text", columns.text), ("image", columns.image), ("video", columns.video)):
        value = row.get(column)
        if value is None or value == "":
            continue
        if key != "text" and isinstance(value, str) and "://" not in value and not value.startswith("data:"):
            candidate = Path(value)
            value = candidate if candidate.is_absolute() else path.parent / candidate
        content[key] = value
    if not content:
        raise InvalidInputError(
            f"{origin}: no {columns.text!r}, {columns.image!r} or {columns.video!r} value", rule="non-empty"
        )
    rid = row.get(columns.id)
    if rid is None and columns.id_required:
        raise InvalidInputError(f"{origin}: no id field {columns.id!r}", rule="columns")
    if rid is not None and not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise InvalidInputError(
            f"{origin}: the id is a {type(rid).__name__}; an id is a string or an integer", rule="id"
        )
    used = {columns.id, columns.text, columns.image, columns.video}
    return Record(
        None if rid is None or rid == "" else str(rid),
        content["text"] if list(content) == ["text"] else content,
        origin,
        {name: value for name, value in row.items() if name not in used},
    )
