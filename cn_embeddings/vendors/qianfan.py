"""Baidu Qianfan v2 ``POST /v2/embeddings`` (docs/wire-reference.md §2).

OpenAI-shaped: bearer key, ``{"model", "input"}``, ``data[].embedding``, and
errors with meaningful HTTP statuses. Text models have per-model batch and
length limits; ``gme-qwen2-vl-2b-instruct`` takes one text, one image, or a
text+image pair per item and fuses a pair into one vector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .._exceptions import APIError, InvalidInputError
from .._images import ImageLimits, check_image
from .._inputs import Item
from .._longtext import LongInputs
from .._options import Credential, option
from .._secret import Secret
from .._types import BatchResult, Usage
from ..auth import BearerAuth
from ._base import BatchLimits, VendorProtocol, resolve_api
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

VENDOR = "qianfan"
DEFAULT_BASE_URL = "https://qianfan.baidubce.com/v2"
MULTIMODAL_MODEL = "gme-qwen2-vl-2b-instruct"
DEFAULT_MODEL = "embedding-v1"
BASE_URL_ENV = "QIANFAN_BASE_URL"
CREDENTIALS = (Credential("api_key", "QIANFAN_API_KEY", "Qianfan API key", ("qianfan_api_key",)),)

# [SEED] per-model limits: characters always; tokens counted offline where the tokenizer is public (_tokens).
TEXT_MODELS: dict[str, tuple[int, TextRule]] = {
    # embedding-v1's 384 tokens: a proprietary tokenizer, so characters only [SEED]
    "embedding-v1": (16, TextRule(max_chars=1000)),
    # [SEED] limits; which public tokenizer each model uses is [INF] (use_vocabulary overrides it)
    "bge-large-zh": (16, TextRule(max_chars=2000, max_tokens=512, tokenizer="bert", vocabulary="BAAI/bge-large-zh")),
    "bge-large-en": (16, TextRule(max_chars=2000, max_tokens=512, tokenizer="bert", vocabulary="BAAI/bge-large-en")),
    "tao-8k": (1, TextRule(max_chars=28000, max_tokens=8192, tokenizer="bert", vocabulary="amu/tao-8k")),
    # Qwen3-Embedding: 16 texts, 8k tokens each [DOC 6.3]; lowercase ids [3P]
    "qwen3-embedding-0.6b": (16, TextRule(max_tokens=8192, tokenizer="qwen")),
    "qwen3-embedding-4b": (16, TextRule(max_tokens=8192, tokenizer="qwen")),
    "qwen3-embedding-8b": (16, TextRule(max_tokens=8192, tokenizer="qwen")),
}
MODELS = {**{m: "text" for m in TEXT_MODELS}, MULTIMODAL_MODEL: "multimodal"}
# Unknown text models (custom services) get embedding-v1's limits [INF].
CUSTOM_TEXT = (16, TextRule(max_chars=1000))
# The error answers documented for /v2/embeddings (status, code; docs/wire-reference.md §2.4), for
# the troubleshooting table: each goes through parse_error to show what a caller gets.
DOCUMENTED_ERRORS = (
    (400, "malformed_json"),
    (400, "invalid_model"),
    (400, "characters_too_long"),
    (400, "tokens_too_long"),
    (400, "invalid_argument"),
    (400, "invalid_image_url"),
    (400, "image_url_unsafe"),
    (401, "no_parameter_permission"),
    (401, "invalid_iam_token"),
    (401, "invalid_appid"),
    (405, "method_not_supported"),
    (429, "rpm_rate_limit_exceeded"),
    (429, "tpm_rate_limit_exceeded"),
    (429, "user_rate_limit_exceeded"),
    (429, "cluster_rate_limit_exceeded"),
    (429, "cluster_rpm_rate_limit_exceeded"),
    (429, "cluster_tpm_rate_limit_exceeded"),
    (429, "preemptible_rate_limit_exceeded"),
    (500, "internal_error"),
    (500, "dispatch_internal_error"),
)
# gme: one object per request [INF: the doc does not say more are allowed], 10 MB images [DOC].
MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_FORMATS = frozenset({"jpeg", "png", "bmp"})
# "under 6000x6000 px with the shortest side at least 5 px" (invalid_image_url) [DOC 2.4]
IMAGE_LIMITS = ImageLimits(max_bytes=MAX_IMAGE_BYTES, max_side=5999, min_side=5)


def _is_unretryable(code: str) -> bool:
    return "quota" in code or code.endswith("_unsafe")


def make_auth(secrets: Mapping[str, Secret | None]) -> BearerAuth:
    return BearerAuth(secrets["api_key"])  # type: ignore[arg-type]


@dataclass
class QianfanProtocol(VendorProtocol):
    model: str = option(DEFAULT_MODEL, "embedding-v1, bge-large-zh/en, tao-8k or gme-qwen2-vl-2b-instruct.")
    base_url: str | None = option(None, f"The API base; None uses {BASE_URL_ENV} or {DEFAULT_BASE_URL}.")
    app_id: str | None = option(None, "Optional appid header.", aliases=("appid",))
    user: str | None = option(None, "End-user id sent as 'user'.")
    api: str | None = option(None, "'text' or 'multimodal' for a custom service name.")

    vendor = VENDOR

    def __post_init__(self) -> None:
        self.endpoint = resolve_api(self.model, self.api, MODELS, "Qianfan")
        if self.endpoint == "multimodal":
            self.limits, self.text_rule = BatchLimits(1), TextRule()
        else:
            max_items, self.text_rule = TEXT_MODELS.get(self.model, CUSTOM_TEXT)
            self.limits = BatchLimits(max_items)
        self.url = (self.base_url or DEFAULT_BASE_URL).rstrip("/") + "/embeddings"

    def prepare(self, items: Sequence[Item], long_inputs: LongInputs, fit_images: bool = False) -> list[Item]:
        allowed = {"text", "image"} if self.endpoint == "multimodal" else {"text"}
        check_modalities(items, allowed, self.model)
        prepared = []
        for index, item in enumerate(items):
            image = item.image
            if image is not None and not image.is_url:
                if image.format not in IMAGE_FORMATS:
                    raise InvalidInputError(
                        f"image format {image.format} is not one of {sorted(IMAGE_FORMATS)}", index=index, rule="format"
                    )
                image = check_image(image, IMAGE_LIMITS, index, self.model, fit_images)
            text, pieces = prepare_text(self.text_rule, item, index, long_inputs, self.model)
            prepared.append(Item(text=text, image=image, pieces=pieces))
        return prepared

    def build_request(self, items: Sequence[Item]) -> httpx.Request:
        body: dict[str, Any] = {"model": self.model, "input": [self._input(i) for i in items]}
        if self.user:
            body["user"] = self.user
        return json_request(self.url, body, {"appid": self.app_id} if self.app_id else {})

    def _input(self, item: Item) -> str | dict[str, Any]:
        if self.endpoint == "text":
            return item.text or ""
        part: dict[str, Any] = {}
        if item.text is not None:
            part["text"] = item.text
        if item.image is not None:
            part["image"] = item.image.url if item.image.is_url else item.image.data_uri()
        return part

    def parse_response(self, response: httpx.Response, items: Sequence[Item]) -> BatchResult:
        payload = openai_payload(response, VENDOR, parse_error)
        vectors = ordered_vectors(payload.get("data"), len(items), VENDOR, index_key="index", vector_key="embedding")
        usage_raw = payload.get("usage")
        usage = Usage(
            requests=1,
            prompt_tokens=int_field(usage_raw, "prompt_tokens"),
            total_tokens=int_field(usage_raw, "total_tokens"),
            images=sum(1 for i in items if i.image is not None),
        )
        found = payload.get("id")
        return BatchResult(vectors, usage, request_id=found if isinstance(found, str) else None)


def parse_error(response: httpx.Response) -> APIError:
    """``{"error": {"code", "message", "type"}, "id"}`` with the HTTP status."""
    payload, _, code, message = error_envelope(response)
    request_id = payload.get("id") if isinstance(payload, dict) and isinstance(payload.get("id"), str) else None
    return http_error(
        response,
        VENDOR,
        code=code,
        message=message,
        request_id=request_id or response.headers.get("x-request-id"),
        not_retryable_codes=_is_unretryable,
    )
