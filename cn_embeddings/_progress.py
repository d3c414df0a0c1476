"""A progress bar that advances per input, shared by both adapters and the CLI."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from ._exceptions import ConfigurationError


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool, desc: str = "embedding") -> Iterator[Callable[[int], None] | None]:
    """Yields a callback taking the number of inputs just embedded (None when disabled)."""
    if not enabled or total == 0:
        yield None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ConfigurationError("show_progress_bar needs tqdm: pip install 'cn-embeddings[all]' or tqdm") from None
    with tqdm(total=total, desc=desc, unit="input", file=sys.stderr) as bar:
        yield bar.update
