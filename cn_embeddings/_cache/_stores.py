"""Where cached vectors are kept: in memory, in a SQLite file, or in Redis.

Each store speaks the :class:`~cn_embeddings._cache.EmbeddingCache` protocol (``get_many``,
``put_many``, over bytes) and raises when it fails; :class:`~cn_embeddings._cache.Guarded`
turns a failure into one warning and a call that carries on without the cache.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["MemoryCache", "RedisCache", "SQLiteCache"]

DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024
_CHUNK = 500  # keys per SELECT or MGET: below SQLite's bound on parameters, and a bounded reply


class MemoryCache:
    """An LRU over the process's memory, bounded in bytes (keys and values counted)."""

    def __init__(self, max_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0

    def __repr__(self) -> str:
        return f"MemoryCache({len(self._items)} entries, {self.bytes} of {self.max_bytes} bytes)"

    def __reduce__(self) -> tuple[Any, ...]:
        return MemoryCache, (self.max_bytes,)  # a copy in another process starts empty

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        out: list[bytes | None] = []
        with self._lock:
            for key in keys:
                value = self._items.get(key)
                if value is not None:
                    self._items.move_to_end(key)
                out.append(value)
        return out

    def put_many(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        with self._lock:
            for key, value in items:
                old = self._items.pop(key, None)
                if old is not None:
                    self.bytes -= len(key) + len(old)
                if len(key) + len(value) > self.max_bytes:
                    continue
                self._items[key] = value
                self.bytes += len(key) + len(value)
            while self.bytes > self.max_bytes:
                key, value = self._items.popitem(last=False)
                self.bytes -= len(key) + len(value)


class SQLiteCache:
    """A SQLite file (the standard library's), in WAL mode: many threads and processes read and
    write it at once. A file that is not a cache (damaged, or another program's) is moved aside
    to ``NAME.corrupt-TIME`` and a new one is made."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._connect()  # fail on construction when the folder cannot hold it

    def __repr__(self) -> str:
        return f"SQLiteCache({str(self.path)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return SQLiteCache, (str(self.path),)

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        try:
            connection = self._open()
        except sqlite3.DatabaseError as error:
            if not _damaged(error):
                raise
            self._set_aside()
            connection = self._open()
        self._local.connection = connection
        return connection

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, value BLOB NOT NULL)")
            connection.execute("SELECT count(*) FROM vectors WHERE key = x'00'").fetchone()
        except BaseException:
            connection.close()
            raise
        return connection

    def _set_aside(self) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        self.path.replace(aside)
        for suffix in ("-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        connection = self._connect()
        found: dict[bytes, bytes] = {}
        for at in range(0, len(keys), _CHUNK):
            chunk = keys[at : at + _CHUNK]
            marks = ",".join("?" * len(chunk))
            try:
                rows = connection.execute(f"SELECT key, value FROM vectors WHERE key IN ({marks})", chunk)  # noqa: S608
                found.update(rows.fetchall())
            except sqlite3.DatabaseError as error:
                if _damaged(error):
                    self._rebuild()
                    return [None] * len(keys)
                raise
        return [found.get(key) for key in keys]

    def put_many(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany("INSERT OR REPLACE INTO vectors (key, value) VALUES (?, ?)", items)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as error:
            if not _damaged(error):
                raise
            self._rebuild()

    def _rebuild(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
        self._set_aside()
        self._connect()


def _damaged(error: sqlite3.DatabaseError) -> bool:
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


class RedisCache:
    """Redis, shared by every machine that reaches it: ``redis://host:port/db`` (the password, as
    for the quota, from ``CN_EMBEDDINGS_QUOTA_PASSWORD``). ``ttl``: seconds an entry lives (None:
    until Redis evicts it; give the instance a ``maxmemory`` policy)."""

    PREFIX = "cn-embeddings:cache:"
    TIMEOUT = 2.0  # seconds per Redis call: a reply carries up to 500 vectors

    def __init__(self, url: str, ttl: float | None = None) -> None:
        from .._ratecontrol._store import check_quota_url, redis_client

        check_quota_url(url)
        self.url, self.ttl = url, ttl
        self._redis = redis_client(url, self.TIMEOUT)

    def __repr__(self) -> str:
        from .._ratecontrol._store import where

        return f"RedisCache({where(self.url)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return RedisCache, (self.url, self.ttl)

    def _name(self, key: bytes) -> str:
        return self.PREFIX + key.hex()  # text, like every other key of the package's

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for at in range(0, len(keys), _CHUNK):
            out.extend(self._redis.mget([self._name(key) for key in keys[at : at + _CHUNK]]))
        return out

    def put_many(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        expire = None if self.ttl is None else max(1, int(self.ttl * 1000))
        for at in range(0, len(items), _CHUNK):
            pipe = self._redis.pipeline(transaction=False)
            for key, value in items[at : at + _CHUNK]:
                pipe.set(self._name(key), value, px=expire)
            pipe.execute()
