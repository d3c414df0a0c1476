"""The sparse vectors a dense call received, kept until the sparse side of a hybrid store asks.

A hybrid vector store embeds each text twice: once for the dense vector, once
for the sparse one. Ark returns both from one request, so the client keeps
the sparse vectors of its recent calls here and hands each out once. The
cache holds at most ``MAX_ENTRIES`` vectors (the oldest go first), so memory
stays bounded whatever is embedded; a text evicted before it is asked for is
simply requested again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from ._types import SparseVector

__all__ = ["MAX_ENTRIES", "SparseCache"]

MAX_ENTRIES = 4096  # above LlamaIndex's insert batch (2048) and langchain-qdrant's (64)


class SparseCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, SparseVector] = OrderedDict()

    def keep(self, keys: Sequence[Hashable | None], vectors: Sequence[SparseVector | None]) -> None:
        with self._lock:
            for key, vector in zip(keys, vectors, strict=True):
                if key is not None and vector is not None:
                    self._entries[key] = vector
                    self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def take(self, key: Hashable | None) -> SparseVector | None:
        """The vector kept for ``key``, removed from the cache (None if there is none)."""
        if key is None:
            return None
        with self._lock:
            return self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
