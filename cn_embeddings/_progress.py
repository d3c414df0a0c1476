"""A progress bar that advances per input, shared by both adapters and the CLI.

tqdm draws it when installed (it comes with the framework extras); without
it, a plain line on stderr shows the same: inputs done, rate and time left.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator


class _PlainBar:
    """Rewrites one stderr line, at most ten times a second."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self.started = self.shown = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.shown >= 0.1 or self.done >= self.total:
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0.0
            sys.stderr.write(f"\r{self.desc}: {self.done}/{self.total} inputs, {rate:.1f}/s, ETA {eta:.0f}s")
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool, desc: str = "embedding") -> Iterator[Callable[[int], None] | None]:
    """Yields a callback taking the number of inputs just embedded (None when disabled)."""
    if not enabled or total == 0:
        yield None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        plain = _PlainBar(total, desc)
        try:
            yield plain.update
        finally:
            plain.close()
        return
    with tqdm(total=total, desc=desc, unit="input", file=sys.stderr) as bar:

        def update(done: int) -> None:
            bar.update(done)

        yield update
