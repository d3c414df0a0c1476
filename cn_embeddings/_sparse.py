"""Ark sparse vectors for hybrid stores: those a dense call received, kept until the sparse side asks.

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
from typing import TYPE_CHECKING, Any, Literal

from ._exceptions import ConfigurationError
from ._inputs import Item, Prepared
from ._types import EmbeddingResult, SparseVector

if TYPE_CHECKING:
    from .vendors._base import VendorProtocol

__all__ = ["MAX_ENTRIES", "SparseCache", "SparseReuse"]

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


class SparseReuse:
    """``embed_sparse`` / ``aembed_sparse`` of :class:`~cn_embeddings.EmbeddingClient`: the sparse side
    of a hybrid store (both frameworks' sparse classes call these), answered from ``_sparse`` first."""

    _sparse: SparseCache
    protocol: VendorProtocol

    if TYPE_CHECKING:  # what the client provides

        def validate(self, inputs: Sequence[Any], *, default: Literal["text", "image"] = "text") -> Prepared: ...

        def embed(self, inputs: Sequence[Any]) -> EmbeddingResult: ...

        async def aembed(self, inputs: Sequence[Any]) -> EmbeddingResult: ...

    def _sparse_keys(self, items: Sequence[Item]) -> list[tuple[Any, ...] | None]:
        scope = self.protocol.sparse_scope()  # queries and documents differ (Ark)
        return [(scope, item.text) if item.modalities == ("text",) else None for item in items]

    def embed_sparse(self, texts: Sequence[str]) -> list[SparseVector]:
        """Sparse vectors of ``texts``: those a recent dense call of this client already received
        (each is handed out once), and one request per remaining distinct text for the rest (which
        also returns its dense vector). Needs a model asked for sparse vectors (Ark ``sparse=True``)."""
        items, keys, found = self._sparse_found(texts)
        send = _to_send(keys, found)
        if send:
            self._sparse_fill(keys, found, send, self.embed(Prepared([items[i] for i in send], self.protocol)))
        return found  # type: ignore[return-value]

    async def aembed_sparse(self, texts: Sequence[str]) -> list[SparseVector]:
        items, keys, found = self._sparse_found(texts)
        send = _to_send(keys, found)
        if send:
            result = await self.aembed(Prepared([items[i] for i in send], self.protocol))
            self._sparse_fill(keys, found, send, result)
        return found  # type: ignore[return-value]

    def _sparse_found(
        self, texts: Sequence[str]
    ) -> tuple[list[Item], list[tuple[Any, ...] | None], list[SparseVector | None]]:
        """The checked texts (checked once: misses are sent as they are), their cache keys, and
        what the cache already holds for them (a text repeated in the call shares its vector)."""
        if not self.protocol.sparse:
            raise ConfigurationError(
                f"{self.protocol.vendor} {self.protocol.model} is not asked for sparse vectors (set sparse=True)"
            )
        items = self.validate(texts)
        keys = self._sparse_keys(items)
        taken = {key: self._sparse.take(key) for key in dict.fromkeys(k for k in keys if k is not None)}
        return items, keys, [taken[key] if key is not None else None for key in keys]

    def _sparse_fill(
        self,
        keys: list[tuple[Any, ...] | None],
        found: list[SparseVector | None],
        sent: list[int],
        result: EmbeddingResult,
    ) -> None:
        """The sparse vectors just requested go to the caller (to every repeat of a text), not to
        the cache."""
        assert result.sparse is not None
        for position, i in enumerate(sent):
            found[i] = result.sparse[position]
            self._sparse.take(keys[i])
        by_key = {keys[i]: found[i] for i in sent if keys[i] is not None}
        for i, key in enumerate(keys):
            if found[i] is None and key is not None:
                found[i] = by_key[key]


def _to_send(keys: list[tuple[Any, ...] | None], found: list[SparseVector | None]) -> list[int]:
    """The inputs to request: the first of each distinct text still missing (and every input
    without a key)."""
    first: dict[Any, int] = {}
    for i, vector in enumerate(found):
        if vector is None:
            key = keys[i]
            first.setdefault(("unkeyed", i) if key is None else key, i)
    return sorted(first.values())
