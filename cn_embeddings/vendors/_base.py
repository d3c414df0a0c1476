"""What every vendor module provides: pure functions over data, no I/O."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from .._exceptions import ConfigurationError
from .._inputs import Item
from .._longtext import LongInputs
from .._ratecontrol import Quota
from .._types import BatchResult

IMAGE_TOKENS = 1000  # an image's token cost before the answer says: about a 1000x1000 picture [INF]


@dataclass(frozen=True)
class BatchLimits:
    """How much one request may carry. ``documented`` False means our own default, not the vendor's."""

    max_items: int
    documented: bool = True


class VendorProtocol(ABC):
    """One vendor API for one model: validate, plan, build, parse.

    Instances hold configuration only (model, region, options), never
    credentials or connections, so they are safe to print and to share.
    ``__post_init__`` derives what follows from the options (``endpoint``: the
    resolved 'text' or 'multimodal' API, limits, URL) into attributes of its
    own and never rewrites an option, so ``dataclasses.replace`` is exact.
    """

    # Everything the client reads of a protocol is declared here.
    endpoint: str  # 'text' or 'multimodal'
    url: str  # where requests go (a quota is per host)
    vendor: str
    model: str
    limits: BatchLimits
    quota: Quota = Quota()  # the documented quota of this model (none known: found at run time)
    sparse: bool = False  # answers carry sparse vectors too (Ark)

    def sparse_scope(self) -> str | None:
        """What a sparse vector depends on besides its text (Ark: the instructions sent with it)."""
        return None

    def vector_settings(self) -> dict[str, object]:
        """Every setting of this protocol that changes the vectors of a document (the bulk job
        records them in its output and refuses to resume with others)."""
        return {"model": self.model}

    def for_queries(self) -> VendorProtocol:
        """The protocol for query embeddings (Ark sends other instructions); most vendors: itself."""
        return self

    @abstractmethod
    def prepare(self, items: Sequence[Item], long_inputs: LongInputs, fit_images: bool = False) -> list[Item]:
        """Check every item against the model's rules (raising before any request);
        returns the items: a text over the limit refused, cut or split as ``long_inputs`` says."""

    def fits(self, batch: Sequence[Item], item: Item, max_items: int) -> bool:
        """Whether ``item`` may join ``batch`` in one request."""
        return len(batch) < max_items

    @abstractmethod
    def build_request(self, items: Sequence[Item]) -> httpx.Request:
        """The request for one batch, built afresh for every attempt."""

    @abstractmethod
    def parse_response(self, response: httpx.Response, items: Sequence[Item]) -> BatchResult:
        """Vectors for the batch in its order, or raise the typed APIError."""

    def token_estimate(self, items: Sequence[Item]) -> float:
        """Tokens a batch is expected to use, before sending, for the token pacing. Characters
        for text (one token per CJK character, fewer elsewhere: an upper estimate), IMAGE_TOKENS
        per image or video; the controller scales it by what the answers reported."""
        return float(
            sum(len(item.text or "") for item in items)
            + IMAGE_TOKENS * sum(1 for item in items for m in ("image", "video") if getattr(item, m))
        )

    def batch_size(self, requested: int | None) -> int:
        """The items per request: the vendor limit, lowered by ``requested``."""
        if requested is None:
            return self.limits.max_items
        if requested < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {requested}")
        if requested > self.limits.max_items and self.limits.documented:
            raise ConfigurationError(
                f"batch_size {requested} is above the {self.vendor} limit of "
                f"{self.limits.max_items} inputs per request for {self.model}"
            )
        return requested


def resolve_api(
    model: str, api: str | None, known: dict[str, str], vendor: str, prefix_rules: Sequence[tuple[str, str]] = ()
) -> str:
    """Which endpoint a model uses: explicit ``api``, the model table, or a name prefix."""
    if api is not None:
        if api not in ("text", "multimodal"):
            raise ConfigurationError(f"api must be 'text' or 'multimodal', got {api!r}")
        return api
    if model in known:
        return known[model]
    for prefix, kind in prefix_rules:
        if model.startswith(prefix):
            return kind
    raise ConfigurationError(
        f"unknown {vendor} model {model!r}; known models: {', '.join(sorted(known))}. "
        "For another model or a custom service, pass api='text' or api='multimodal'."
    )
