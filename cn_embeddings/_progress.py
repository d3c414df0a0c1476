"""A progress bar that advances per input, shared by both adapters and the CLI.

tqdm draws it when installed (it comes with the framework extras); without
it, a plain line on stderr shows the same: inputs done, rate and time left.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator

LINE_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal (a log, a cron job)


class _PlainBar:
    """Rewrites one stderr line at most ten times a second on a terminal; elsewhere (a log file, a
    CI log, a container) writes a whole line every ``LINE_EVERY`` seconds and at the end."""

    def __init__(self, total: int, desc: str, lines: bool = False) -> None:
        self.total, self.desc, self.done, self.lines = total, desc, 0, lines
        self.started = self.shown = time.monotonic()
        self.every = LINE_EVERY if lines else 0.1

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.shown >= self.every or self.done >= self.total:
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0.0
            text = f"{self.desc}: {self.done}/{self.total} inputs, {rate:.1f}/s, ETA {eta:.0f}s"
            sys.stderr.write(text + "\n" if self.lines else "\r" + text)
            sys.stderr.flush()

    def close(self) -> None:
        if not self.lines:
            sys.stderr.write("\n")


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool, desc: str = "embedding") -> Iterator[Callable[[int], None] | None]:
    """Yields a callback taking the number of inputs just embedded (None when disabled): a bar on a
    terminal, plain lines when stderr is not one."""
    if not enabled or total == 0:
        yield None
        return
    try:
        if not sys.stderr.isatty():
            raise ImportError  # a bar's carriage returns make an unreadable log
        from tqdm.auto import tqdm
    except ImportError:
        plain = _PlainBar(total, desc, lines=not sys.stderr.isatty())
        try:
            yield plain.update
        finally:
            plain.close()
        return
    with tqdm(total=total, desc=desc, unit="input", file=sys.stderr) as bar:

        def update(done: int) -> None:
            bar.update(done)

        yield update


ProgressCallback = Callable[[int, int], None]  # (inputs done, inputs in all)


@contextlib.contextmanager
def reporting(
    total: int, on_progress: ProgressCallback | None, show: bool, desc: str = "embedding"
) -> Iterator[Callable[[int], None] | None]:
    """The core client's progress: a bar when ``show``, and ``on_progress(done, total)`` after each
    answered batch. Yields the callback the runners call with the inputs of each answered batch
    (from several worker threads at once: the count is kept under a lock)."""
    with progress_bar(total, show, desc) as bar:
        if on_progress is None:
            yield bar
            return
        lock = threading.Lock()
        done = 0

        def update(n: int) -> None:
            nonlocal done
            with lock:
                done += n
                now = done
            if bar is not None:
                bar(n)
            on_progress(now, total)

        yield update
