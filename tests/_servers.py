"""One emulator for the whole test session, reachable from class-level properties."""

from __future__ import annotations

import atexit
from functools import lru_cache

from cn_embeddings.testing import Emulator


@lru_cache(maxsize=1)
def shared_emulator() -> Emulator:
    emulator = Emulator().start()
    atexit.register(emulator.stop)
    return emulator


def credentials(vendor: str) -> dict:
    """Keyword arguments pointing a client of ``vendor`` at the shared emulator."""
    return shared_emulator().settings(vendor)
