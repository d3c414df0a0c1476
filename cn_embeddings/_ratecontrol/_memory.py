"""A learned quota remembered for the next run: in the shared store, or in a small file.

A process that found a quota by its refusals keeps the rate it found, so the next run of the
same job starts there instead of finding it again. The key is the quota's own (vendor, host, a
hash of the account, model): a rate is stored, never a credential. Entries expire after
``REMEMBER_FOR``. The file lives in the user's cache folder (``platformdirs``), or in
``$CN_EMBEDDINGS_CACHE_DIR``; it is replaced atomically under a lock, so concurrent processes
neither lose each other's entries nor read a half-written file. ``remember_quota=False`` or
``CN_EMBEDDINGS_REMEMBER_QUOTA=0`` keeps nothing.

The file is untrusted input (another program, or another user, may have put anything there): it
is opened without following links, only if it is a regular file of at most ``MAX_FILE`` bytes,
without blocking (a FIFO answers nothing); an entry that is not a finite rate within
``(0, MAX_RATE]`` is skipped; the lock is taken with a deadline. A broken file means no remembered
rate, with one warning, never a failed or hung client.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

__all__ = ["CACHE_DIR_ENV", "REMEMBER_ENV", "REMEMBER_FOR", "FileMemory", "RateMemory", "remembering"]

log = logging.getLogger("cn_embeddings")

CACHE_DIR_ENV = "CN_EMBEDDINGS_CACHE_DIR"
REMEMBER_ENV = "CN_EMBEDDINGS_REMEMBER_QUOTA"
REMEMBER_FOR = 86_400.0  # seconds a remembered rate is trusted
FILE_NAME = "quotas.json"
MAX_FILE = 256 * 1024  # bytes: thousands of entries
LOCK_PATIENCE = 2.0  # seconds to wait for another process's lock before keeping nothing
_warned: set[str] = set()


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
        fresh = entry is not None and 0 <= time.time() - entry["at"] < REMEMBER_FOR  # never from the future
        return entry["rate"] if entry is not None and fresh else None

    def keep(self, rate: float) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.path.with_suffix(".lock")):
                now = time.time()
                entries = {k: v for k, v in _read(self.path).items() if now - v["at"] < REMEMBER_FOR}
                entries[self.name] = {"rate": round(rate, 4), "at": now}
                fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".quotas-", suffix=".json")
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(entries, out)
                os.replace(temporary, self.path)
        except OSError as error:  # a read-only home, a lock held too long: the rate is simply not kept
            log.debug("could not keep the learned quota in %s (%s)", self.path, type(error).__name__)


def valid_rate(rate: object) -> bool:
    """A remembered rate worth starting from: a finite number in ``(0, MAX_RATE]``."""
    from ._resolve import MAX_RATE

    return isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 < rate <= MAX_RATE


def _read(path: Path) -> dict[str, dict[str, float]]:
    """The valid entries of the file; nothing (and one warning) for a file that is not one."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return {}
    except OSError as error:  # a symlink (ELOOP), no permission
        return _broken(path, type(error).__name__)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE:
            return _broken(path, "not a regular file of at most 256 KiB")
        with os.fdopen(fd, "rb") as file:
            fd = -1
            data = json.loads(file.read(MAX_FILE + 1))
    except (OSError, ValueError, RecursionError) as error:
        return _broken(path, type(error).__name__)
    finally:
        if fd >= 0:
            os.close(fd)
    if not isinstance(data, dict):
        return _broken(path, "not a JSON object")
    return {
        name: {"rate": float(entry["rate"]), "at": float(entry["at"])}
        for name, entry in data.items()
        if isinstance(entry, dict) and valid_rate(entry.get("rate")) and _finite(entry.get("at"))
    }


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _broken(path: Path, why: str) -> dict[str, dict[str, float]]:
    if str(path) not in _warned:
        _warned.add(str(path))
        log.warning("ignored the remembered quotas in %s (%s); rates are found afresh", path, why)
    return {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes (fcntl where there is one), never through a
    link, waited for at most LOCK_PATIENCE (then OSError: nothing is kept)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "r+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: os.replace alone keeps the file whole
            yield
            return
        deadline = time.monotonic() + LOCK_PATIENCE
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
