"""A learned quota remembered for the next run: in the shared store, or in a small file.

A process that found a quota by its refusals keeps the rate it found, so the next run of the
same job starts there instead of finding it again. The key is the quota's own (vendor, host, a
hash of the account, model): a rate is stored, never a credential. Entries expire after
``REMEMBER_FOR``. The file lives in the user's cache folder (``platformdirs``), or in
``$CN_EMBEDDINGS_CACHE_DIR``; it is replaced atomically under a lock, so concurrent processes
neither lose each other's entries nor read a half-written file. ``remember_quota=False`` or
``CN_EMBEDDINGS_REMEMBER_QUOTA=0`` keeps nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

__all__ = ["CACHE_DIR_ENV", "REMEMBER_ENV", "REMEMBER_FOR", "FileMemory", "RateMemory", "remembering"]

log = logging.getLogger("cn_embeddings")

CACHE_DIR_ENV = "CN_EMBEDDINGS_CACHE_DIR"
REMEMBER_ENV = "CN_EMBEDDINGS_REMEMBER_QUOTA"
REMEMBER_FOR = 86_400.0  # seconds a remembered rate is trusted
FILE_NAME = "quotas.json"


class RateMemory(Protocol):
    """Where one quota's learned rate is kept between runs."""

    def recall(self) -> float | None: ...

    def keep(self, rate: float) -> None: ...


def remembering(option: bool) -> bool:
    """Whether learned rates are kept: the option, unless the environment turns it off."""
    return option and os.environ.get(REMEMBER_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("cn-embeddings", appauthor=False))


class FileMemory:
    """One quota's entry in the cache folder's ``quotas.json``."""

    def __init__(self, key: tuple[str, ...], folder: Path | None = None) -> None:
        self.name = "/".join(key)
        self.path = (folder or cache_dir()) / FILE_NAME

    def __repr__(self) -> str:
        return f"FileMemory({str(self.path)!r})"

    def recall(self) -> float | None:
        entry = _read(self.path).get(self.name)
        if not isinstance(entry, dict):
            return None
        rate, at = entry.get("rate"), entry.get("at")
        fresh = isinstance(at, (int, float)) and 0 <= time.time() - at < REMEMBER_FOR
        return float(rate) if fresh and isinstance(rate, (int, float)) and rate > 0 else None

    def keep(self, rate: float) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.path.with_suffix(".lock")):
                entries = _read(self.path)
                now = time.time()
                entries = {
                    k: v for k, v in entries.items() if isinstance(v, dict) and now - v.get("at", 0) < REMEMBER_FOR
                }
                entries[self.name] = {"rate": round(rate, 4), "at": now}
                fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".quotas-", suffix=".json")
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(entries, out)
                os.replace(temporary, self.path)
        except OSError as error:  # a read-only home: the rate is simply not kept
            log.debug("could not keep the learned quota in %s (%s)", self.path, type(error).__name__)


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes (fcntl where there is one)."""
    with open(path, "a", encoding="utf-8") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: os.replace alone keeps the file whole
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
