"""Which sink an ``--output`` names, opened and locked for one job (see :mod:`.sinks`, :mod:`.lance`)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from .._exceptions import ConfigurationError
from .lance import LanceSink
from .parquet import ParquetSink
from .qdrant import QdrantSink
from .sinks import Held, JsonlSink, OutputLock, SettingsFile, Sink, StdoutSink

__all__ = ["open_sink"]


def open_sink(output: str | Path, *, rows_per_part: int = 4096) -> Held:
    """The sink for ``output``: ``-`` is stdout, ``*.parquet`` a Parquet folder, ``DIR/NAME.lance``
    the LanceDB table NAME in the database folder DIR, ``qdrant://HOST:PORT/NAME`` the collection
    NAME on a Qdrant server and ``DIR/NAME.qdrant`` the one in Qdrant's local-mode folder DIR,
    anything else JSON Lines. Checks the path before any request: its folder must exist (a LanceDB
    or Qdrant folder is created) and be writable. A file or folder output is locked for the job; a
    Qdrant server's collection is not (nothing on this machine can lock it)."""
    if str(output) == "-":
        return Held(StdoutSink())
    if str(output).startswith("qdrant://"):
        parts = urlsplit(str(output))
        name = parts.path.strip("/")
        if not parts.hostname or not name or "/" in name:
            raise ConfigurationError(f"a Qdrant output is qdrant://HOST:PORT/COLLECTION, got {output!r}")
        return Held(QdrantSink(f"qdrant://{parts.netloc}", name))
    path = Path(output)
    parent = path.parent if str(path.parent) else Path(".")
    suffix = path.suffix.lower()
    _check_folder(parent, suffix)
    _check_path(path, suffix)
    lock = OutputLock(path)  # before any sink opens the output: a second job learns who holds it
    try:
        sink = _local_sink(path, parent, suffix, rows_per_part)
    except BaseException:
        lock.release()
        raise
    return Held(sink, lock, SettingsFile(path.parent / f".{path.name}.settings.json"))  # beside it, like the lock


def _check_folder(parent: Path, suffix: str) -> None:
    """The output's folder exists (a LanceDB or Qdrant one is created) and is writable."""
    if suffix in (".lance", ".qdrant") and not parent.exists():
        try:
            parent.mkdir(parents=True)  # a LanceDB or Qdrant folder is the job's to create
        except OSError as error:
            raise ConfigurationError(f"cannot create the folder {parent}: {error.strerror}") from None
    if not parent.is_dir():
        raise ConfigurationError(f"output folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise ConfigurationError(f"output folder {parent} is not writable")


def _check_path(path: Path, suffix: str) -> None:
    """The output is of a kind the job writes, and what is there already is of that kind."""
    if suffix not in (".lance", ".qdrant", ".parquet", ".jsonl"):
        raise ConfigurationError(
            f"{path}: an output is X.jsonl, X.parquet (a folder), DIR/NAME.lance, DIR/NAME.qdrant, "
            "qdrant://HOST:PORT/NAME or - (stdout)"
        )
    if suffix == ".parquet" and path.exists() and not path.is_dir():
        raise ConfigurationError(
            f"{path} is a file; a Parquet output is a folder of part files (choose another --output)"
        )
    if suffix == ".jsonl" and path.is_dir():
        raise ConfigurationError(f"{path} is a folder; give a .jsonl file or a .parquet folder")
    if suffix == ".jsonl" and path.exists() and not path.is_file():
        raise ConfigurationError(f"{path} is not a regular file (a device or a pipe); give a .jsonl file")


def _local_sink(path: Path, parent: Path, suffix: str, rows_per_part: int) -> Sink:
    if suffix == ".lance":
        return LanceSink(parent, path.stem, rows_per_block=rows_per_part)
    if suffix == ".qdrant":
        return QdrantSink(str(parent), path.stem)
    if suffix == ".parquet":
        try:
            return ParquetSink(path, rows_per_part=rows_per_part)
        except ImportError:
            raise ConfigurationError("Parquet output needs pyarrow: pip install 'cn-embeddings[bulk]'") from None
    return JsonlSink(path)
