"""Tencent Cloud ES, API version 2025-01-01 (docs/wire-reference.md §1).

``GetMultiModalEmbedding`` (WeCLIPv2) returns separate text and image vectors,
so texts and images share a request but a text+image item cannot be fused.
``GetTextEmbedding`` serves the text models. Errors come back with HTTP 200
in ``Response.Error``. Bodies are serialised once, to bytes, and the TC3 signer
hashes exactly those bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .._exceptions import APIError, AuthenticationError, BadRequestError, InvalidInputError, RateLimitError, ServerError
from .._images import ImageLimits, check_image
from .._inputs import Item
from .._longtext import LongInputs
from .._options import Credential, option
from .._ratecontrol import Quota
from .._secret import Secret
from .._types import BatchResult, Usage
from ..auth import TC3Auth
from ._base import BatchLimits, VendorProtocol, resolve_api
from ._common import (
    TextRule,
    check_modalities,
    http_error,
    int_field,
    json_body,
    json_request,
    malformed,
    ordered_vectors,
    prepare_text,
)

VENDOR = "tencent"
API_VERSION = "2025-01-01"
DEFAULT_BASE_URL = "https://es.tencentcloudapi.com"
DEFAULT_REGION = "ap-guangzhou"
DEFAULT_MODEL = "WeCLIPv2-Base"
BASE_URL_ENV = "TENCENTCLOUD_ES_BASE_URL"
# Environment variables as the official SDK names them.
CREDENTIALS = (
    Credential("secret_id", "TENCENTCLOUD_SECRET_ID", "Tencent Cloud SecretId", ("tencentcloud_secret_id",)),
    Credential("secret_key", "TENCENTCLOUD_SECRET_KEY", "Tencent Cloud SecretKey", ("tencentcloud_secret_key",)),
    Credential("token", "TENCENTCLOUD_SESSION_TOKEN", "session token", ("session_token",), required=False),
)

MODELS = {
    "WeCLIPv2-Base": "multimodal",
    "WeCLIPv2-Large": "multimodal",
    "bge-base-zh-v1.5": "text",
    "bge-large-zh-v1.5": "text",
    "Conan-embedding-v1": "text",
    "bge-m3": "text",
    "KaLM-embedding-multilingual-mini-v1": "text",
    "Qwen3-Embedding-0.6B": "text",
}

# GetMultiModalEmbedding [SEED]: <=10 texts, <=8 images (ImageData or ImageUrl), 1 MB per image.
MULTIMODAL_MAX_TEXTS = 10
MULTIMODAL_MAX_IMAGES = 8
MAX_IMAGE_BYTES = 1024 * 1024  # applied to the raw image bytes [INF: the seed does not say raw or base64]
IMAGE_LIMITS = ImageLimits(max_bytes=MAX_IMAGE_BYTES)
# The seed's "length 72" has no unit (CLIP tokens or characters) [INF]: we count characters;
# override with max_text_chars when the service disagrees.
MULTIMODAL_TEXT_CHARS = 72
# API 3.0 caps a TC3 POST body at 10 MB [INF]; 8 images of 1 MB are 10.7 MB of base64, so
# batches are also packed by encoded size, and one text or image larger than this is refused.
MAX_BODY_BYTES = 9 * 1024 * 1024
# GetTextEmbedding documents no per-request limit [DOC]; 32 is our default [INF].
TEXT_BATCH = 32
IMAGE_FORMATS = frozenset({"jpeg", "png", "bmp", "gif", "webp"})  # [INF] the seed names none

QUOTAS = {  # per model and account: multimodal [SEED][SDK], text [SDK][DOC]
    "multimodal": Quota(requests_per_second=10.0, source="GetMultiModalEmbedding: 10 QPS per model"),
    "text": Quota(requests_per_second=20.0, source="GetTextEmbedding: 20 QPS per model"),
}


def _encoded_size(item: Item) -> int:
    """An upper bound of the bytes ``item`` adds to a request body, cheaply: 4 bytes a character of text
    (the most UTF-8 takes; no encoding while packing), or the base64 length of image data."""
    if item.text is not None:
        return 4 * len(item.text)
    return len(item.image.data or b"") * 4 // 3 if item.image is not None else 0


RETRYABLE_CODES = ("RequestLimitExceeded", "InternalError", "ServiceUnavailable", "ResourceUnavailable")
AUTH_CODES = ("AuthFailure", "UnauthorizedOperation")
# The error codes documented for these actions and API 3.0 (docs/wire-reference.md §1.6), all sent
# with HTTP 200, for the troubleshooting table: each goes through parse_error.
DOCUMENTED_ERRORS = tuple(
    (200, code)
    for code in (
        "AuthFailure.InvalidAuthorization",
        "AuthFailure.InvalidSecretId",
        "AuthFailure.SecretIdNotFound",
        "AuthFailure.SignatureExpire",
        "AuthFailure.SignatureFailure",
        "AuthFailure.TokenFailure",
        "AuthFailure.UnauthorizedOperation",
        "UnauthorizedOperation",
        "InvalidParameter",
        "InvalidParameterValue",
        "MissingParameter",
        "UnknownParameter",
        "UnsupportedOperation",
        "ResourceNotFound",
        "RequestSizeLimitExceeded",
        "RequestLimitExceeded",
        "RequestLimitExceeded.IPLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
        "LimitExceeded",
        "InternalError",
        "ServiceUnavailable",
        "ResourceUnavailable",
        "ResourceInsufficient",
        "FailedOperation",
    )
)


def make_auth(secrets: Mapping[str, Secret | None]) -> TC3Auth:
    return TC3Auth(secrets["secret_id"], secrets["secret_key"], secrets.get("token"))  # type: ignore[arg-type]


@dataclass
class TencentProtocol(VendorProtocol):
    model: str = option(DEFAULT_MODEL, "WeCLIPv2-Base/-Large (texts and images) or a GetTextEmbedding model.")
    region: str = option(DEFAULT_REGION, "Sent as X-TC-Region.")
    base_url: str | None = option(None, f"The API host; None uses {BASE_URL_ENV} or {DEFAULT_BASE_URL}.")
    language: str | None = option("en-US", "X-TC-Language for error messages (zh-CN or en-US; None omits it).")
    api: str | None = option(None, "'text' or 'multimodal' for a model name not in the built-in table.")
    # whether the documented "72" counts characters or tokens is not said [INF]
    max_text_chars: int | None = option(None, "WeCLIPv2 text limit in characters (default 72).")

    vendor = VENDOR

    def __post_init__(self) -> None:
        self.endpoint = resolve_api(self.model, self.api, MODELS, "Tencent Cloud")
        self.action = "GetMultiModalEmbedding" if self.endpoint == "multimodal" else "GetTextEmbedding"
        # Multimodal: the limit is per modality (10 texts and 8 images may share a request);
        # batch_size lowers both.
        self.limits = (
            BatchLimits(MULTIMODAL_MAX_TEXTS)
            if self.endpoint == "multimodal"
            else BatchLimits(TEXT_BATCH, documented=False)
        )
        self.quota = QUOTAS[self.endpoint]
        chars = self.max_text_chars or (MULTIMODAL_TEXT_CHARS if self.endpoint == "multimodal" else None)
        self.text_rule = TextRule(max_chars=chars)
        self.url = (self.base_url or DEFAULT_BASE_URL).rstrip("/") + "/"
        self.host = urlsplit(self.url).netloc

    def prepare(self, items: Sequence[Item], long_inputs: LongInputs, fit_images: bool = False) -> list[Item]:
        allowed = {"text", "image"} if self.endpoint == "multimodal" else {"text"}
        check_modalities(items, allowed, self.model)
        prepared = []
        for index, item in enumerate(items):
            if item.text is not None and item.image is not None:
                raise InvalidInputError(
                    f"{self.model} returns separate text and image vectors and cannot fuse a text+image "
                    "item into one; embed them as two inputs",
                    index=index,
                    rule="fusion",
                )
            if item.image is not None and not item.image.is_url:
                if item.image.format not in IMAGE_FORMATS:
                    raise InvalidInputError(
                        f"image format {item.image.format} is not one of {sorted(IMAGE_FORMATS)}",
                        index=index,
                        rule="format",
                    )
                item = Item(image=check_image(item.image, IMAGE_LIMITS, index, self.model, fit_images))
            if item.text is not None:
                text, pieces = prepare_text(self.text_rule, item, index, long_inputs, self.model)
                item = Item(text=text, pieces=pieces)
                size = len((text or "").encode("utf-8"))
                if not pieces and _encoded_size(item) > MAX_BODY_BYTES and size > MAX_BODY_BYTES:
                    raise InvalidInputError(
                        f"text is {size} bytes; a Tencent Cloud request body holds at most {MAX_BODY_BYTES} bytes",
                        index=index,
                        rule="body",
                    )  # [INF]
            prepared.append(item)
        return prepared

    def fits(self, batch: Sequence[Item], item: Item, max_items: int) -> bool:
        if sum(map(_encoded_size, batch)) + _encoded_size(item) > MAX_BODY_BYTES:
            return False
        if self.endpoint == "text":
            return len(batch) < max_items
        if item.image is None:
            return sum(1 for b in batch if b.text is not None) < min(MULTIMODAL_MAX_TEXTS, max_items)
        images = [b.image for b in batch if b.image is not None]
        if len(images) >= min(MULTIMODAL_MAX_IMAGES, max_items):
            return False
        # Never mix ImageData and ImageUrl: their relative Index order is undocumented.
        return not (images and images[0].is_url != item.image.is_url)

    def body(self, items: Sequence[Item]) -> dict[str, Any]:
        body: dict[str, Any] = {"ModelName": self.model}
        texts = [i.text for i in items if i.text is not None]
        images = [i.image for i in items if i.image is not None]
        if texts or self.endpoint == "text":
            body["Texts"] = texts
        if images and images[0].is_url:
            body["ImageUrl"] = [m.url for m in images]
        elif images:
            body["ImageData"] = [m.b64() for m in images]
        return body

    def build_request(self, items: Sequence[Item]) -> httpx.Request:
        headers = {
            "Host": self.host,  # Content-Type is signed exactly as sent, no charset
            "X-TC-Action": self.action,
            "X-TC-Version": API_VERSION,
            "X-TC-Region": self.region,
        }
        if self.language:
            headers["X-TC-Language"] = self.language
        return json_request(self.url, self.body(items), headers)

    def parse_response(self, response: httpx.Response, items: Sequence[Item]) -> BatchResult:
        inner = response_object(response)
        data = inner.get("Data")
        usage_raw = inner.get("Usage")
        usage = Usage(
            requests=1,
            total_tokens=int_field(usage_raw, "TotalTokens"),
            prompt_tokens=int_field(usage_raw, "TotalTokens"),
            images=int_field(usage_raw, "TotalImages"),
        )
        if self.endpoint == "text":
            vectors = ordered_vectors(data, len(items), VENDOR, index_key="Index", vector_key="Embedding")
            return BatchResult(vectors, usage, request_id=_request_id(inner))
        if not isinstance(data, dict):
            raise malformed(VENDOR, "Response.Data is not an object", response)
        n_texts = sum(1 for i in items if i.text is not None)
        n_images = len(items) - n_texts
        texts = ordered_vectors(
            data.get("TextEmbeddings") or [], n_texts, VENDOR, index_key="Index", vector_key="Embedding"
        )
        images = ordered_vectors(
            data.get("ImageEmbeddings") or [], n_images, VENDOR, index_key="Index", vector_key="Embedding"
        )
        text_iter, image_iter = iter(texts), iter(images)
        vectors = [next(text_iter) if i.text is not None else next(image_iter) for i in items]
        if texts and images and len(texts[0]) != len(images[0]):
            raise malformed(VENDOR, "text and image embeddings have different lengths", response)
        return BatchResult(vectors, usage, request_id=_request_id(inner))


def _request_id(inner: dict[str, Any]) -> str | None:
    """Tencent's answers carry their id in the body only (``Response.RequestId``)."""
    found = inner.get("RequestId")
    return found if isinstance(found, str) else None


def response_object(response: httpx.Response) -> dict[str, Any]:
    """The ``Response`` object of a successful API 3.0 answer; any error raises the typed error."""
    if response.status_code != 200:
        raise http_error(
            response,
            VENDOR,
            code=f"http_{response.status_code}",
            message=response.content[:200].decode("utf-8", errors="replace"),
            request_id=None,
        )
    payload = json_body(response, VENDOR)
    inner = payload.get("Response") if isinstance(payload, dict) else None
    if not isinstance(inner, dict):
        raise malformed(VENDOR, "body has no Response object", response)
    if "Error" in inner:
        raise parse_error(inner)
    return inner


def parse_error(inner: dict[str, Any]) -> APIError:
    """Map ``Response.Error`` (sent with HTTP 200) to the typed error."""
    error = inner.get("Error")
    code = str(error.get("Code")) if isinstance(error, dict) and error.get("Code") else "unknown"
    message = str(error.get("Message", "")) if isinstance(error, dict) else str(error)
    request_id = inner.get("RequestId") if isinstance(inner.get("RequestId"), str) else None
    kwargs: dict[str, Any] = dict(vendor=VENDOR, code=code, message=message, status_code=200, request_id=request_id)
    if code == "AuthFailure.SignatureExpire":
        return AuthenticationError(
            **kwargs, hint="the local clock is off by more than 5 minutes; sync it (for example with NTP) and retry"
        )
    if code.startswith(AUTH_CODES):
        return AuthenticationError(**kwargs)
    if code.startswith("RequestLimitExceeded"):
        return RateLimitError(**kwargs, retryable=True)
    if code == "LimitExceeded":
        return RateLimitError(**kwargs, retryable=False)
    if code.startswith(RETRYABLE_CODES):
        return ServerError(**kwargs, retryable=True)
    return BadRequestError(**kwargs)
