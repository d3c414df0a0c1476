"""Volcengine Ark ``/api/v3/embeddings/multimodal`` and ``/api/v3/embeddings`` (docs/wire-reference.md §3).

The multimodal endpoint fuses every part of a request into ONE vector, so each
item is its own request; ``data`` is a single object. The text endpoint is
batched and ``data`` is an array. We ask for base64 by default (packed
little-endian float32: smaller and cheaper to parse than float JSON) and
omit every optional field that is unset.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .._exceptions import APIError, ConfigurationError, InvalidInputError
from .._images import ImageLimits, check_image
from .._inputs import Item
from .._longtext import LongInputs
from .._options import Credential, option
from .._ratecontrol import Quota
from .._secret import Secret
from .._types import BatchResult, SparseVector, Usage
from ..auth import BearerAuth
from ._base import BatchLimits, VendorProtocol, resolve_api
from ._common import (
    TextRule,
    all_finite,
    as_vector,
    check_modalities,
    error_envelope,
    http_error,
    int_field,
    json_request,
    malformed,
    openai_payload,
    ordered_vectors,
    prepare_text,
)
from .ark_multi import check_multi, decode_multi

VENDOR = "ark"
DEFAULT_BASE_URL = "https://ark.cn-beijing.volces.com/api/v3"
DEFAULT_MODEL = "doubao-embedding-vision-251215"  # what new accounts get (the text models are retiring)
BASE_URL_ENV = "ARK_BASE_URL"
CREDENTIALS = (Credential("api_key", "ARK_API_KEY", "Ark API key", ("ark_api_key",)),)
DIMENSIONS = (1024, 2048)
# Versions from which the server reduces dimensions and accepts any mix of parts [SEED][DOC].
SERVER_DIMENSIONS_FROM = 250615
# Text endpoint: "for performance keep to 4 or fewer items" [DOC] is advice, not a limit;
# we default to it and let batch_size raise it up to 256 [INF].
TEXT_BATCH_DEFAULT = 4
TEXT_BATCH_MAX = 256
TEXT_RULE = TextRule(max_bytes=100_000)  # per element [DOC]
MAX_VIDEO_BYTES = 50 * 1024 * 1024  # [SEED]
# Images, current docs [DOC 6.1]: under 10 MB, sides above 14 px, under 36 M pixels; the token cap
# min(w*h/784, 1312) makes more than 1312*784 pixels useless, so fitting stops there.
IMAGE_LIMITS = ImageLimits(
    max_bytes=10 * 1024 * 1024 - 1, max_pixels=36_000_000 - 1, min_side=15, fit_pixels=1312 * 784
)
MAX_BODY_BYTES = 64 * 1024 * 1024  # the whole request body with base64 content [DOC 6.1]
# video_url tuning fields and their ranges [Go SDK, docs/wire-reference.md §6.1]
VIDEO_RANGES: dict[str, tuple[float, float]] = {
    "fps": (0.2, 5),
    "max_video_tokens": (10240, 204800),
    "min_frame_tokens": (16, 128),
    "max_frame_tokens": (128, 640),
    "min_frames": (5, 16),
}
# heic/heif: sent as data URIs as Dify does; Ark's acceptance is not documented [3P][INF]
IMAGE_FORMATS = frozenset({"jpeg", "png", "gif", "webp", "bmp", "tiff", "ico", "icns", "jp2", "j2k", "heic", "heif"})
VIDEO_FORMATS = frozenset({"mp4", "avi", "mov"})
# Codes that do not clear on their own: never retried even though some come with 429 [DOC].
# Published per-model quotas (BytePlus, docs/wire-reference.md §5); the cn-beijing quotas are per account, model and
# endpoint and were not found, so these are upper bounds the controller finds its rate below [DOC][INF].
QUOTAS = (  # [DOC] each
    ("doubao-embedding-vision", Quota(250.0, 1_200_000, exact=False, source="15,000 RPM / 1.2M TPM (BytePlus)")),
    ("doubao-embedding-large-text-250515", Quota(1000 / 60, 800_000, exact=False, source="1,000 RPM / 800k TPM")),
    ("doubao-embedding-text-240715", Quota(20.0, 1_200_000, exact=False, source="1,200 RPM / 1.2M TPM")),
)
UNRETRYABLE = ("QuotaExceeded", "SetLimitExceeded", "AccountOverdueError", "OperationDenied")
# The models the documentation lists (any other doubao-embedding or ep- id is taken by its prefix).
DOCUMENTED_MODELS = (
    "doubao-embedding-vision-251215",
    "doubao-embedding-vision-250615",
    "doubao-embedding-large-text-250515",
    "doubao-embedding-text-240715",
)
# The error answers the vendor documents (status, code; docs/wire-reference.md §3.5), for the
# troubleshooting table: each goes through parse_error to show what a caller gets.
DOCUMENTED_ERRORS = (
    (400, "MissingParameter"),
    (400, "InvalidParameter"),
    (400, "InvalidEndpoint.ClosedEndpoint"),
    (400, "InputTextRiskDetection"),
    (400, "InputImageRiskDetection"),
    (401, "AuthenticationError"),
    (403, "AccountOverdueError"),
    (403, "AccessDenied"),
    (403, "OperationDenied.ServiceNotOpen"),
    (404, "InvalidEndpointOrModel.NotFound"),
    (404, "ModelNotOpen"),
    (429, "RateLimitExceeded.EndpointRPMExceeded"),
    (429, "RateLimitExceeded.EndpointTPMExceeded"),
    (429, "ModelAccountRpmRateLimitExceeded"),
    (429, "ModelAccountTpmRateLimitExceeded"),
    (429, "APIAccountRpmRateLimitExceeded"),
    (429, "AccountRateLimitExceeded"),
    (429, "InflightBatchsizeExceeded"),
    (429, "RequestBurstTooFast"),
    (429, "ServerOverloaded"),
    (429, "QuotaExceeded"),
    (429, "SetLimitExceeded"),
    (500, "InternalServiceError"),
)
_VERSION = re.compile(r"-(\d{6})$")
_REQUEST_ID = re.compile(r"Request ID:\s*([\w-]+)")


def model_version(model: str) -> int | None:
    """The yymmdd suffix of a model ID (None for endpoint IDs, whose version is unknown)."""
    match = _VERSION.search(model)
    return int(match.group(1)) if match else None


def decode_base64_floats(value: object, where: str) -> list[float]:
    """Standard base64 over little-endian IEEE-754 float32 [Go SDK]."""
    if not isinstance(value, str):
        raise malformed(VENDOR, f"{where}: base64 embedding is not a string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise malformed(VENDOR, f"{where}: embedding is not valid base64") from None
    if not raw or len(raw) % 4:
        raise malformed(VENDOR, f"{where}: base64 embedding is not a whole number of float32 values")
    vector = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if not all_finite(vector):
        raise malformed(VENDOR, f"{where}: embedding holds a non-finite value")
    return vector


def reduce_dimensions(vector: list[float], dimensions: int, where: str = "embedding") -> list[float]:
    # truncate, then L2-normalise, as others do for these models [3P][INF]
    """Client-side reduction for models before -250615: truncate, then L2-normalise. An
    answer shorter than the dimensions asked for is an error, never a shorter vector."""
    if len(vector) < dimensions:
        raise malformed(  # the model answers this length: asking again cannot help
            VENDOR,
            f"{where}: asked for {dimensions} dimensions (reduced here), but the answer has only {len(vector)}",
            retryable=False,
        )
    head = vector[:dimensions]
    norm = math.sqrt(sum(x * x for x in head)) or 1.0
    return [x / norm for x in head]


def make_auth(secrets: Mapping[str, Secret | None]) -> BearerAuth:
    return BearerAuth(secrets["api_key"])  # type: ignore[arg-type]


@dataclass
class ArkProtocol(VendorProtocol):
    model: str = option(DEFAULT_MODEL, "A doubao-embedding(-vision) model ID or an endpoint ID (ep-...).")
    base_url: str | None = option(None, f"The API base; None uses {BASE_URL_ENV} or {DEFAULT_BASE_URL}.")
    api: str | None = option(None, "'text' or 'multimodal' for an endpoint ID (ep-...); default multimodal.")
    encoding_format: str = option("base64", "'base64' (decoded locally, smaller) or 'float'.")
    dimensions: int | None = option(None, "1024 or 2048 for doubao-embedding-vision.")
    instructions: str | None = option(None, "Sent with documents (multimodal endpoint).")
    query_instructions: str | None = option(
        None, "Sent with queries instead of instructions (asymmetric retrieval); None sends instructions."
    )
    sparse: bool = option(False, "Also ask for sparse vectors (text-only inputs, multimodal endpoint).")
    # None: reduce client-side only for model IDs older than -250615; endpoint IDs (ep-...)
    # send `dimensions` to the server since their version is unknown [INF].
    client_side_dimensions: bool | None = option(
        None, "Truncate and L2-normalise locally instead of sending 'dimensions'; None decides by model version."
    )
    user: str | None = option(None, "End-user id sent as 'user' (text endpoint).")
    video_options: dict[str, float] = option(
        {},
        "Defaults for every video input: fps (0.2-5), max_video_tokens (10240-204800), min_frame_tokens "
        "(16-128), max_frame_tokens (128-640), min_frames (5-16); an input's own values win.",
    )
    multi_embedding: bool = option(
        False, "Also ask for token-level multi-vectors, 2048-d each (doubao-embedding-vision-251215 and later)."
    )
    multi_embedding_compression: str | None = option(
        "zstd", "How multi-vectors travel: 'zstd' (float16, decoded locally; needs zstandard) or None (JSON)."
    )

    vendor = VENDOR

    def __post_init__(self) -> None:
        self.endpoint = resolve_api(
            self.model,
            self.api,
            {},
            "Ark",
            (
                ("doubao-embedding-vision", "multimodal"),
                ("ep-", "multimodal"),
                ("doubao-embedding", "text"),
                ("skylark-embedding-vision", "multimodal"),
                ("skylark-embedding", "text"),
            ),
        )
        if self.encoding_format not in ("base64", "float"):
            raise ConfigurationError(f"encoding_format must be 'base64' or 'float', got {self.encoding_format!r}")
        version = model_version(self.model)
        if self.dimensions is not None and self.endpoint == "multimodal" and self.dimensions not in DIMENSIONS:
            raise ConfigurationError(f"dimensions must be one of {DIMENSIONS} for {self.model}, got {self.dimensions}")
        if self.dimensions is not None and (isinstance(self.dimensions, bool) or self.dimensions < 1):
            raise ConfigurationError(f"dimensions must be a positive integer, got {self.dimensions!r}")
        self.client_side = (
            self.client_side_dimensions
            if self.client_side_dimensions is not None
            else version is not None and version < SERVER_DIMENSIONS_FROM
        )
        if self.sparse and self.endpoint != "multimodal":
            raise ConfigurationError("sparse embeddings are a feature of the multimodal endpoint")
        self.video_defaults = check_video_options(self.video_options, None)
        if self.multi_embedding:
            check_multi(self.model, self.endpoint, version, self.multi_embedding_compression)
        self.version = version
        self.limits = BatchLimits(1) if self.endpoint == "multimodal" else BatchLimits(TEXT_BATCH_MAX)
        self.quota = next((quota for prefix, quota in QUOTAS if self.model.startswith(prefix)), Quota())
        path = "/embeddings/multimodal" if self.endpoint == "multimodal" else "/embeddings"
        self.url = (self.base_url or DEFAULT_BASE_URL).rstrip("/") + path

    def batch_size(self, requested: int | None) -> int:
        if self.endpoint == "text" and requested is None:
            return TEXT_BATCH_DEFAULT
        return super().batch_size(requested)

    def prepare(self, items: Sequence[Item], long_inputs: LongInputs, fit_images: bool = False) -> list[Item]:
        if self.endpoint == "text":
            check_modalities(items, {"text"}, self.model)
        return [self._prepare_one(item, index, long_inputs, fit_images) for index, item in enumerate(items)]

    def _prepare_one(self, item: Item, index: int, long_inputs: LongInputs, fit_images: bool) -> Item:
        """One input checked against every rule, its text cut or split and its image fitted."""
        self._check_kinds(item, index)
        tuning = {**self.video_defaults, **check_video_options(dict(item.video_options), index)}
        text, pieces = prepare_text(TEXT_RULE, item, index, long_inputs, self.model)
        if pieces and (self.sparse or self.multi_embedding):
            raise InvalidInputError(
                "a text split into pieces gets one dense vector, not one sparse or "
                "multi-vector (long_inputs='truncate' cuts it)",
                index=index,
                rule="text-length",
            )
        image = check_image(item.image, IMAGE_LIMITS, index, self.model, fit_images) if item.image else None
        encoded = sum(len(m.data or b"") * 4 // 3 for m in (image, item.video) if m is not None)
        if encoded > MAX_BODY_BYTES:
            raise InvalidInputError(
                f"the request would carry {encoded} bytes of base64 media; Ark accepts at "
                f"most {MAX_BODY_BYTES} per request",
                index=index,
                rule="body-size",
            )
        video_options = tuple(tuning.items()) if item.video is not None else ()
        return Item(text=text, image=image, video=item.video, pieces=pieces, video_options=video_options)

    def _check_kinds(self, item: Item, index: int) -> None:
        """What this model takes: text only for sparse vectors, video from -250615, the formats
        and the video size Ark accepts."""
        if self.sparse and item.modalities != ("text",):
            raise InvalidInputError(
                "sparse embeddings are only allowed for text-only inputs",  # [SEED]
                index=index,
                rule="sparse-text-only",
            )
        if item.video is not None and self.version is not None and self.version < SERVER_DIMENSIONS_FROM:
            raise InvalidInputError(
                f"{self.model} cannot embed video (needs -250615 or later)", index=index, rule="modality"
            )
        for media, formats in ((item.image, IMAGE_FORMATS), (item.video, VIDEO_FORMATS)):
            if media is not None and not media.is_url and media.format not in formats:
                raise InvalidInputError(
                    f"{media.kind} format {media.format} is not one of {sorted(formats)}",
                    index=index,
                    rule="format",
                )
        if item.video is not None and len(item.video.data or b"") > MAX_VIDEO_BYTES:
            raise InvalidInputError(
                f"video is {len(item.video.data or b'')} bytes; at most {MAX_VIDEO_BYTES}",
                index=index,
                rule="video-size",
            )

    def body(self, items: Sequence[Item]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model}
        if self.endpoint == "multimodal":
            (item,) = items
            body["input"] = _content_parts(item)
        else:
            body["input"] = [i.text for i in items]
        body["encoding_format"] = self.encoding_format
        if self.dimensions is not None and not self.client_side:
            body["dimensions"] = self.dimensions
        if self.instructions is not None and self.endpoint == "multimodal":
            body["instructions"] = self.instructions
        if self.sparse:
            body["sparse_embedding"] = {"type": "enabled"}
        if self.multi_embedding:
            compression = self.multi_embedding_compression
            body["multi_embedding"] = {"type": "enabled", **({"compression": compression} if compression else {})}
        if self.user is not None and self.endpoint == "text":
            body["user"] = self.user
        return body

    def sparse_scope(self) -> str | None:
        return self.instructions

    def vector_settings(self) -> dict[str, object]:
        return {
            "model": self.model,
            "dimensions": self.dimensions,
            "client_side_dimensions": self.client_side,
            "instructions": self.instructions,
            "sparse": self.sparse,
            "multi_embedding": self.multi_embedding,
        }

    def for_queries(self) -> ArkProtocol:
        if self.query_instructions is None:
            return self
        return dataclasses.replace(self, instructions=self.query_instructions)

    def build_request(self, items: Sequence[Item]) -> httpx.Request:
        return json_request(self.url, self.body(items), {"Accept": "application/json"})

    def _decode(self, raw: object, where: str) -> list[float]:
        if self.encoding_format == "base64":
            vector = decode_base64_floats(raw, where)
        else:
            vector = as_vector(raw, VENDOR, where)
        if self.dimensions is not None and self.client_side:
            vector = reduce_dimensions(vector, self.dimensions, where)
        elif self.dimensions is not None and len(vector) != self.dimensions:
            raise malformed(VENDOR, f"{where}: asked for {self.dimensions} dimensions, got {len(vector)}")
        return vector

    def parse_response(self, response: httpx.Response, items: Sequence[Item]) -> BatchResult:
        payload = openai_payload(response, VENDOR, parse_error)
        usage = _usage(payload.get("usage"), items)
        data = payload.get("data")
        if self.endpoint == "text":
            vectors = ordered_vectors(
                data, len(items), VENDOR, index_key="index", vector_key="embedding", decode=self._decode
            )
            return BatchResult(vectors, usage)
        if not isinstance(data, dict):
            raise malformed(
                VENDOR, "data is not an object (the multimodal endpoint returns one fused vector)", response
            )
        vector = self._decode(data.get("embedding"), "embedding")
        sparse = [_sparse(data.get("sparse_embedding"))] if self.sparse else None
        multi = [decode_multi(data.get("multi_embedding"))] if self.multi_embedding else None
        return BatchResult([vector], usage, sparse, multi)


def check_video_options(options: Mapping[str, object], index: int | None) -> dict[str, float]:
    """The video tuning fields, checked against the Go SDK's ranges: InvalidInputError for an
    input's own (``index``), ConfigurationError for the client defaults (``index`` None)."""

    def fail(message: str) -> None:
        if index is None:
            raise ConfigurationError(f"video_options: {message}")
        raise InvalidInputError(message, index=index, rule="video-options")

    checked: dict[str, float] = {}
    for name, value in options.items():
        if name not in VIDEO_RANGES:
            fail(f"unknown video field {name!r} (one of {', '.join(VIDEO_RANGES)})")
        low, high = VIDEO_RANGES[name]
        whole = name != "fps"
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
        if not low <= number <= high or (whole and not number.is_integer()):
            fail(f"{name} must be {'an integer' if whole else 'a number'} in [{low}, {high}], got {value!r}")
        checked[name] = int(number) if whole else number
    frame = (checked.get("min_frame_tokens"), checked.get("max_frame_tokens"))
    if frame[0] is not None and frame[1] is not None and frame[1] < frame[0]:
        fail(f"max_frame_tokens ({frame[1]}) is below min_frame_tokens ({frame[0]})")
    return checked


def _content_parts(item: Item) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if item.text is not None:
        parts.append({"type": "text", "text": item.text})
    if item.image is not None:
        url = item.image.url if item.image.is_url else item.image.data_uri()
        parts.append({"type": "image_url", "image_url": {"url": url}})
    if item.video is not None:
        url = item.video.url if item.video.is_url else item.video.data_uri()
        parts.append({"type": "video_url", "video_url": {"url": url, **dict(item.video_options)}})
    return parts


def _sparse(raw: object) -> SparseVector:
    if not isinstance(raw, list):
        raise malformed(VENDOR, "sparse_embedding missing or not a list")
    out: SparseVector = {}
    for entry in raw:
        idx = entry.get("index") if isinstance(entry, dict) else None
        val = entry.get("value") if isinstance(entry, dict) else None
        if (
            isinstance(idx, bool)
            or not isinstance(idx, int)
            or isinstance(val, bool)
            or not isinstance(val, (int, float))
            or not math.isfinite(val)
            or idx in out
        ):
            raise malformed(VENDOR, "sparse_embedding entry is not a unique {index:int, value:float}")
        out[idx] = float(val)
    return out


def _usage(raw: object, items: Sequence[Item]) -> Usage:
    details = raw.get("prompt_tokens_details") if isinstance(raw, dict) else None
    return Usage(
        requests=1,
        prompt_tokens=int_field(raw, "prompt_tokens"),
        total_tokens=int_field(raw, "total_tokens"),
        text_tokens=int_field(details, "text_tokens"),
        image_tokens=int_field(details, "image_tokens"),
        images=sum(1 for i in items if i.image is not None),
    )


def parse_error(response: httpx.Response) -> APIError:
    """``{"error": {"code", "message", "param", "type"}}``; the id is in X-Request-Id or the message."""
    _, error, code, message = error_envelope(response)
    request_id = response.headers.get("x-request-id")
    if request_id is None and error is not None:
        found = _REQUEST_ID.search(message)
        request_id = found.group(1) if found else error.get("request_id")
    return http_error(
        response,
        VENDOR,
        code=code,
        message=message,
        request_id=request_id,
        not_retryable_codes=lambda c: c.startswith(UNRETRYABLE),
    )
