"""Which sink an ``--output`` names, opened and locked for one job (see :mod:`.sinks`, :mod:`.lance`)."""

from __future__ import annotations

import os
from pathlib import Path

from .._exceptions import ConfigurationError
from .lance import LanceSink
from .sinks import JsonlSink, ParquetSink, Sink, StdoutSink

__all__ = ["open_sink"]


def open_sink(output: str | Path, *, rows_per_part: int = 4096) -> Sink:
    """The sink for ``output``: ``-`` is stdout, ``*.parquet`` a Parquet folder, ``DIR/NAME.lance``
    the LanceDB table NAME in the database folder DIR, anything else JSON Lines. Checks the path
    before any request: its folder must exist and be writable."""
    if str(output) == "-":
        return StdoutSink()
    path = Path(output)
    parent = path.parent if str(path.parent) else Path(".")
    if path.suffix.lower() == ".lance" and not parent.exists():
        try:
            parent.mkdir(parents=True)  # a LanceDB database folder is the job's to create
        except OSError as error:
            raise ConfigurationError(f"cannot create the LanceDB folder {parent}: {error.strerror}") from None
    if not parent.is_dir():
        raise ConfigurationError(f"output folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise ConfigurationError(f"output folder {parent} is not writable")
    if path.suffix.lower() == ".lance":
        sink: Sink = LanceSink(parent, path.stem)
    elif path.suffix.lower() == ".parquet":
        if path.exists() and not path.is_dir():
            raise ConfigurationError(
                f"{path} is a file; a Parquet output is a folder of part files (choose another --output)"
            )
        try:
            sink = ParquetSink(path, rows_per_part=rows_per_part)
        except ImportError:
            raise ConfigurationError("Parquet output needs pyarrow: pip install 'cn-embeddings[bulk]'") from None
    elif path.is_dir():
        raise ConfigurationError(f"{path} is a folder; give a .jsonl file or a .parquet folder")
    elif path.exists() and not path.is_file():
        raise ConfigurationError(f"{path} is not a regular file (a device or a pipe); give a .jsonl file")
    else:
        sink = JsonlSink(path)
    sink.lock(path)
    return sink
