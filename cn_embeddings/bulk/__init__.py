"""Bulk embedding: a corpus from files to JSON Lines or Parquet, streamed, resumable.

``embed_corpus(client, Source(files=["corpus.csv"]), open_sink("vectors.parquet"))`` is what
``cn-embeddings embed`` runs. Parquet needs the ``[bulk]`` extra (pyarrow).
"""

from .job import BulkError, Summary, content_hash, embed_corpus
from .outputs import open_sink
from .parquet import ParquetSink
from .sinks import JsonlSink, Row, Sink, StdoutSink
from .sources import Columns, Record, Source

__all__ = [
    "BulkError",
    "Columns",
    "JsonlSink",
    "ParquetSink",
    "Record",
    "Row",
    "Sink",
    "Source",
    "StdoutSink",
    "Summary",
    "content_hash",
    "embed_corpus",
    "open_sink",
]
