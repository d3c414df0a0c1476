"""The embedding space of a client, as a value: what decides whether two vectors are comparable.

Two vectors can be compared (stored in one index, one a query and the other a document) only
when the same vendor API and model made them, at the same dimensions, with the same sparse and
multi-vector options, and with long texts and oversized images treated alike. A :class:`Space`
names exactly that, with a stable ``id``: outputs record it (Parquet and LanceDB schema
metadata, the settings file beside an output, the Qdrant collection's metadata) and refuse to
mix another one in; the cache keys every vector by it.

What a query or a document is told to be (Ark's ``instructions``, ``query_instructions``) is
not part of the space: a query and its documents must share one. It is part of a cache key,
with the role, because it changes the vector of one text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Space", "space_of"]

# the protocol's vector settings that are said per role, not per space
_PER_ROLE = ("instructions",)


@dataclass(frozen=True)
class Space:
    """An embedding space: ``id`` (32 hex digits, stable across processes and versions that
    describe it alike) and ``describe()`` (what it is made of, as plain JSON values)."""

    settings: tuple[tuple[str, Any], ...]

    @property
    def id(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()[:32]

    def canonical(self) -> str:
        return json.dumps(dict(self.settings), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def describe(self) -> dict[str, Any]:
        """The settings and the id, as recorded in an output's metadata."""
        return {**dict(self.settings), "id": self.id}

    def __str__(self) -> str:
        said = dict(self.settings)
        return f"{said.get('vendor')}/{said.get('model')} (space {self.id[:12]})"


def space_of(protocol: Any, long_inputs: str, fit_images: bool) -> Space:
    """The space of a client's protocol and its input options."""
    settings = {name: value for name, value in protocol.vector_settings().items() if name not in _PER_ROLE}
    settings.update(
        vendor=protocol.vendor,
        api=protocol.endpoint,
        long_inputs=long_inputs,
        fit_images=fit_images,
    )
    return Space(tuple(sorted(settings.items())))
