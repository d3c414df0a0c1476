"""Tencent TokenHub ``POST /v1/embeddings``: where Tencent is moving its model traffic.

A provider of its own rather than an API of the Tencent vendor: it shares
nothing with Tencent Cloud ES but the company. It is OpenAI-compatible (a
bearer API key, ``{"model", "input"}``, ``data[].embedding``, errors with HTTP
statuses) on another host, with other models and other quotas. Documented:
``kinfra-text-embedding-0.6b`` (1024-d) and ``-4b`` (2560-d), at most 2,000
characters a text, about 128 texts a request, float only, no ``dimensions``.
Per-model RPM/TPM quotas exist but no figure is published (they are read per
account with ``DescribeModelQuota``), so the rate is found at run time unless
``requests_per_second`` / ``tokens_per_minute`` say it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .._exceptions import APIError
from .._inputs import Item
from .._longtext import LongInputs
from .._options import Credential, option
from .._secret import Secret
from .._types import BatchResult, Usage
from ..auth import BearerAuth
from ._base import BatchLimits, VendorProtocol
from ._common import (
    TextRule,
    check_modalities,
    error_envelope,
    http_error,
    int_field,
    json_request,
    openai_payload,
    ordered_vectors,
    prepare_text,
)

VENDOR = "tokenhub"
DEFAULT_BASE_URL = "https://tokenhub.tencentmaas.com/v1"
DEFAULT_MODEL = "kinfra-text-embedding-0.6b"
BASE_URL_ENV = "TOKENHUB_BASE_URL"
# The docs name no environment variable [INF]
CREDENTIALS = (Credential("api_key", "TOKENHUB_API_KEY", "TokenHub API key", ("tokenhub_api_key",)),)
MODELS = {"kinfra-text-embedding-0.6b": 1024, "kinfra-text-embedding-4b": 2560}  # dimensions [DOC]
TEXT_RULE = TextRule(max_chars=2000)  # [DOC]
BATCH = 128  # "about 128 texts a request" is advice, not a documented limit [DOC][INF]


def make_auth(secrets: Mapping[str, Secret | None]) -> BearerAuth:
    return BearerAuth(secrets["api_key"])  # type: ignore[arg-type]


@dataclass
class TokenHubProtocol(VendorProtocol):
    model: str = option(DEFAULT_MODEL, "kinfra-text-embedding-0.6b (1024-d) or kinfra-text-embedding-4b (2560-d).")
    base_url: str | None = option(None, f"The API base; None uses {BASE_URL_ENV} or {DEFAULT_BASE_URL}.")
    user: str | None = option(None, "End-user id sent as 'user'.")

    vendor = VENDOR

    def __post_init__(self) -> None:
        self.endpoint = "text"
        self.limits = BatchLimits(BATCH, documented=False)
        self.url = (self.base_url or DEFAULT_BASE_URL).rstrip("/") + "/embeddings"

    def prepare(self, items: Sequence[Item], long_inputs: LongInputs, fit_images: bool = False) -> list[Item]:
        check_modalities(items, {"text"}, self.model)
        prepared = []
        for index, item in enumerate(items):
            text, pieces = prepare_text(TEXT_RULE, item, index, long_inputs, self.model)
            prepared.append(Item(text=text, pieces=pieces))
        return prepared

    def build_request(self, items: Sequence[Item]) -> httpx.Request:
        body: dict[str, Any] = {"model": self.model, "input": [item.text for item in items], "encoding_format": "float"}
        if self.user:
            body["user"] = self.user
        return json_request(self.url, body, {})

    def parse_response(self, response: httpx.Response, items: Sequence[Item]) -> BatchResult:
        payload = openai_payload(response, VENDOR, parse_error)
        vectors = ordered_vectors(payload.get("data"), len(items), VENDOR, index_key="index", vector_key="embedding")
        usage_raw = payload.get("usage")
        return BatchResult(
            vectors,
            Usage(
                requests=1,
                prompt_tokens=int_field(usage_raw, "prompt_tokens"),
                total_tokens=int_field(usage_raw, "total_tokens"),
            ),
        )


def parse_error(response: httpx.Response) -> APIError:
    # assumed as for other OpenAI-compatible APIs [INF]
    """The OpenAI error envelope with the HTTP status."""
    payload, _, code, message = error_envelope(response)
    request_id = payload.get("id") if isinstance(payload, dict) and isinstance(payload.get("id"), str) else None
    return http_error(
        response, VENDOR, code=code, message=message, request_id=request_id or response.headers.get("x-request-id")
    )
