"""Vectors paid for once: a cache keyed by the embedding space, the role and the exact input.

``cache=`` on every client and framework class takes ``None`` (no cache), ``"memory"`` (an LRU
in this process, 256 MiB; ``"memory:64"`` for 64 MiB), a file path (SQLite, shared by threads
and processes), a ``redis://`` URL (shared by machines), or any object with ``get_many`` and
``put_many`` (:class:`EmbeddingCache`). A hit costs no request and never meets the rate
controller; the same input twice in one call, or in calls running at once in one process, is
sent once (:mod:`._reuse`). A cache that fails never fails a call: one warning, and the client
carries on without it (:class:`Guarded`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from .._exceptions import ConfigurationError
from ._entry import Entry, decode, encode, scope_of
from ._stores import MemoryCache, RedisCache, SQLiteCache

__all__ = [
    "EmbeddingCache",
    "Guarded",
    "MemoryCache",
    "RedisCache",
    "SQLiteCache",
    "check_cache_spec",
    "scope_of",
    "shared_cache",
]

logger = logging.getLogger("cn_embeddings.cache")


@runtime_checkable
class EmbeddingCache(Protocol):
    """What a cache provides: values (bytes) for keys (bytes, 32 of them), None where missing, in
    the keys' order; and storing pairs. Either may raise: the client then goes on without it."""

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]: ...

    def put_many(self, items: Sequence[tuple[bytes, bytes]]) -> None: ...


def check_cache_spec(spec: Any) -> None:
    """Refuse a ``cache=`` value that names no cache (nothing is opened here)."""
    _opener(spec)


def _opener(spec: Any) -> Callable[[], EmbeddingCache]:
    if isinstance(spec, str):
        if spec == "memory" or spec.startswith("memory:"):
            size = spec.partition(":")[2]
            if size and not (size.isdigit() and int(size) > 0):
                raise ConfigurationError(f"cache='memory:N' takes N in MiB, a whole number, got {spec!r}")
            return lambda: MemoryCache(int(size) * 1024 * 1024) if size else MemoryCache()
        if spec.startswith(("redis://", "rediss://", "unix://")):
            from .._ratecontrol._store import check_quota_url

            check_quota_url(spec)  # the same rules: no password in a URL that is saved with the configuration
            return lambda: RedisCache(spec)
        if "://" in spec or not spec.strip():
            raise ConfigurationError(f"cache must be 'memory', a file path or a redis:// URL, got {spec!r}")
        return lambda: SQLiteCache(spec)
    if isinstance(spec, EmbeddingCache):
        return lambda: spec
    raise ConfigurationError(
        "cache must be None, 'memory', a file path, a redis:// URL or an object with get_many and put_many, "
        f"not {type(spec).__name__}"
    )


_OPEN: dict[Any, Guarded] = {}
_OPEN_LOCK = threading.Lock()


def shared_cache(spec: Any) -> Guarded | None:
    """The process's one guarded cache for a ``cache=`` value: every client naming the same one
    shares it (a notebook's new client finds what the last one paid for). A cache that cannot be
    opened is reported once and left off."""
    if spec is None:
        return None
    name = spec if isinstance(spec, str) else ("object", id(spec))
    with _OPEN_LOCK:
        guarded = _OPEN.get(name)
        if guarded is None or (not isinstance(spec, str) and guarded.store is not spec):
            try:
                store = _opener(spec)()
            except ConfigurationError:
                raise
            except Exception as error:
                guarded = Guarded(_Unopened(str(spec)))
                guarded.fail("opening", error)
            else:
                guarded = Guarded(store)
            _OPEN[name] = guarded
        return guarded


class _Unopened:
    """Where a cache that could not be opened would have been (for the warning)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return [None] * len(keys)

    def put_many(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        pass


class Guarded:
    """A cache that fails is switched off, with one warning, and never fails a call; a value that
    is not an entry counts as a miss. Counts hits, misses and the bytes served."""

    def __init__(self, store: EmbeddingCache) -> None:
        self.store = store
        self.failed = False
        self.hits = self.misses = self.bytes = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Guarded({self.store!r})"

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Entry]:
        found: dict[bytes, Entry] = {}
        served = 0
        if not self.failed and keys:
            try:
                values = self.store.get_many(list(keys))
                for key, value in zip(keys, values, strict=True):
                    if value is not None:
                        try:
                            found[key] = decode(bytes(value))
                        except ValueError:
                            continue
                        served += len(value)
            except Exception as error:
                self.fail("reading", error)
        with self._lock:  # calls in several threads count at once
            self.hits += len(found)
            self.misses += len(keys) - len(found)
            self.bytes += served
        return found

    def put_many(self, entries: Sequence[tuple[bytes, Entry]]) -> None:
        if self.failed or not entries:
            return
        try:
            self.store.put_many([(key, encode(entry)) for key, entry in entries])
        except Exception as error:
            self.fail("writing", error)

    def fail(self, doing: str, error: Exception) -> None:
        with self._lock:
            if self.failed:
                return
            self.failed = True
        logger.warning(
            "the embedding cache %r failed while %s (%s: %s); carrying on without it",
            self.store,
            doing,
            type(error).__name__,
            str(error)[:200],
        )
