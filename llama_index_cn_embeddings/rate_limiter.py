"""``QuotaRateLimiter``: a LlamaIndex rate limiter drawing on one vendor quota with cn-embeddings.

LlamaIndex's ``BaseRateLimiter`` is the hook an LLM and an embedding model share a budget
through. This one is the rate controller of a vendor quota (vendor, host, account and model, as
the embedding clients count it): in one process every limiter and client of that quota wait on
the same controller, and with ``quota_url`` (Redis) every process and machine does. So an LLM of a
vendor that counts its calls and the embeddings' together, and this package's embedding classes,
draw on one budget.

It knows when a request may go, not what became of it: the requests it lets through teach the
controller nothing (a refusal the caller meets is its own to retry), while the embedding clients
of the same quota keep adapting the shared rate as their answers come.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.rate_limiter import BaseRateLimiter

from cn_embeddings._ratecontrol import Outcome
from cn_embeddings.clients import CLIENTS, DEFAULT_MODELS

__all__ = ["QuotaRateLimiter"]


class QuotaRateLimiter(BaseRateLimiter):
    """``QuotaRateLimiter(vendor="qianfan", model="embedding-v1", quota_url="redis://...")``: see the
    module docstring. ``requests_per_second`` and ``tokens_per_minute`` as on the clients (None:
    the model's documented quota, else found at run time); credentials and every other client
    option from the keywords or the environment, as for the clients (they name the account whose
    quota this is)."""

    def __init__(
        self,
        *,
        vendor: str,
        model: str | None = None,
        quota_url: str | None = None,
        requests_per_second: float | None = None,
        tokens_per_minute: int | None = None,
        **options: Any,
    ) -> None:
        self._client = CLIENTS[vendor](
            model or DEFAULT_MODELS[vendor],
            quota_url=quota_url,
            requests_per_second=requests_per_second,
            tokens_per_minute=tokens_per_minute,
            **options,
        )

    def __repr__(self) -> str:
        key = self._client.quota_key
        return f"QuotaRateLimiter(vendor={key[0]!r}, model={key[3]!r}, server={key[1]!r})"

    @property
    def controller(self) -> Any:
        """The rate controller of the quota (shared with every client of it in the process)."""
        return self._client.controller

    def acquire(self, num_tokens: int = 0) -> None:
        """Wait for a request's turn (and its ``num_tokens``) at the quota's pace."""
        self.controller.acquire(float(num_tokens)).settle(Outcome.FAILED)  # no answer seen here

    async def async_acquire(self, num_tokens: int = 0) -> None:
        slot = await self.controller.aacquire(float(num_tokens))
        slot.settle(Outcome.FAILED)
