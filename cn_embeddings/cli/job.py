"""The ``embed`` command's job: inputs with ids in, JSON Lines out, resumable.

Output is appended and flushed line by line (one ``write`` per line), so an
interrupted run leaves at most one partial last line; on resume that line is
cut off, the ids already written are skipped, and nothing is duplicated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError, InvalidInputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
Record = tuple[str, Any]  # (id, text str or {"text"/"image"/"video": ...})


def collect_inputs(texts: list[str], images: list[str], input_file: str | None) -> list[Record]:
    records: list[Record] = [(f"text-{i}", t) for i, t in enumerate(texts)]
    for entry in images:
        path = Path(entry)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not files:
                raise InvalidInputError(f"no image files in folder {path}", rule="file-exists")
            records += [(str(p), {"image": p}) for p in files]
        else:
            records.append((entry, {"image": entry}))
    if input_file:
        records += _read_input_file(Path(input_file))
    ids = [r[0] for r in records]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InvalidInputError(f"duplicate id {dup!r} in the inputs", rule="unique-id")
    return records


def _read_input_file(path: Path) -> list[Record]:
    if not path.is_file():
        raise InvalidInputError(f"input file not found: {path}", rule="file-exists")
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix.lower() != ".jsonl":
        return [(f"{path.name}:{n}", line) for n, line in enumerate(lines, 1) if line.strip()]
    records: list[Record] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise InvalidInputError(f"{path}:{n} is not valid JSON", rule="jsonl") from None
        if not isinstance(obj, dict) or "id" not in obj:
            raise InvalidInputError(f"{path}:{n} needs an \"id\" and one of text, image, video", rule="jsonl")
        content = {k: obj[k] for k in ("text", "image", "video") if obj.get(k) is not None}
        records.append((str(obj["id"]), content["text"] if list(content) == ["text"] else content))
    return records


def done_ids(output: Path) -> set[str]:
    """Ids already in the output; a partial last line (killed mid-write) is cut off."""
    if not output.exists():
        return set()
    data = output.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(output, "r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    ids = set()
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        try:
            ids.add(str(json.loads(line)["id"]))
        except (ValueError, KeyError, TypeError):
            raise ConfigurationError(f"{output}:{n} is not a line this tool wrote; refusing to append") from None
    return ids


def chunks(records: list[Record], size: int) -> Iterator[list[Record]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def write_lines(output: Path, records: list[Record], vectors: list[list[float]], model: str) -> None:
    with open(output, "a", encoding="utf-8") as fh:
        for (rid, _), vector in zip(records, vectors, strict=True):
            fh.write(json.dumps({"id": rid, "vector": vector, "model": model}, ensure_ascii=False) + "\n")
            fh.flush()
        os.fsync(fh.fileno())


def run_job(records: list[Record], output: Path, embed: Callable[[list[Any], Callable[[int], None]], list],
            model: str, progress: Callable[[int], None], chunk_size: int) -> int:
    """Embed what is not yet in ``output``; returns how many lines were written."""
    written = 0
    for chunk in chunks(records, chunk_size):
        vectors = embed([content for _, content in chunk], progress)
        write_lines(output, chunk, vectors, model)
        written += len(chunk)
    return written
