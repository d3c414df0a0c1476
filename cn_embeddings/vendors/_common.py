"""Helpers every vendor module uses to read responses without trusting them.

A body that is not JSON, a vector that is not a list of finite numbers, a
missing or repeated index, or a count that does not match the inputs becomes
a typed :class:`APIError`, never a KeyError or a silently wrong vector.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .. import _tokens
from .._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidInputError,
    RateLimitError,
    ServerError,
)
from .._inputs import Item
from .._retry import RETRYABLE_STATUS, parse_retry_after

try:  # about 10x faster than json on float vectors (benchmarks/json_parsing.py); same results
    from orjson import loads as json_loads
except ImportError:  # pragma: no cover - the [fast] extra is not installed
    from json import loads as json_loads  # type: ignore[assignment]

JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class TextRule:
    """A text limit: ``max_chars`` characters, ``max_bytes`` UTF-8 bytes, and ``max_tokens`` counted
    offline by ``tokenizer`` (``"qwen"``: exact, with the [tokens] extra; ``"bert"``: bounds)."""

    max_chars: int | None = None
    max_bytes: int | None = None
    max_tokens: int | None = None
    tokenizer: str | None = None

    def check(self, text: str, index: int, truncate: bool, model: str) -> str:
        text = self._check_length(text, index, truncate, model)
        return self._check_tokens(text, index, truncate, model) if self.max_tokens else text

    def _check_tokens(self, text: str, index: int, truncate: bool, model: str) -> str:
        assert self.max_tokens is not None
        hint = "(pass truncate=True to cut it)"
        if self.tokenizer == "qwen":
            count = _tokens.qwen_count(text)
            if count is None or count <= self.max_tokens:
                return text
            if truncate:
                return _tokens.qwen_cut(text, self.max_tokens)
            raise InvalidInputError(f"text has {count} tokens; {model} accepts at most {self.max_tokens} {hint}",
                                    index=index, rule="text-tokens")
        low, high = _tokens.bert_bounds(text)
        if high <= self.max_tokens:
            return text
        if truncate:
            return _tokens.bert_cut(text, self.max_tokens)
        if low > self.max_tokens:
            raise InvalidInputError(f"text has at least {low} tokens; {model} accepts at most {self.max_tokens} "
                                    f"{hint}", index=index, rule="text-tokens")
        return text  # it may fit: the vendor decides

    def _check_length(self, text: str, index: int, truncate: bool, model: str) -> str:
        if self.max_chars is not None and len(text) > self.max_chars:
            if truncate:
                return text[: self.max_chars]
            raise InvalidInputError(
                f"text has {len(text)} characters; {model} accepts at most {self.max_chars} "
                "(pass truncate=True to cut it)", index=index, rule="text-length")
        if self.max_bytes is not None:
            encoded = text.encode("utf-8")
            if len(encoded) > self.max_bytes:
                if truncate:
                    return encoded[: self.max_bytes].decode("utf-8", errors="ignore")
                raise InvalidInputError(
                    f"text has {len(encoded)} UTF-8 bytes; {model} accepts at most {self.max_bytes} "
                    "(pass truncate=True to cut it)", index=index, rule="text-length")
        return text


def json_request(url: str, body: dict, headers: dict[str, str]) -> httpx.Request:
    """A POST whose body is serialised once, to the exact bytes that are sent (and signed)."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return httpx.Request("POST", url, content=content, headers={"Content-Type": JSON_CONTENT_TYPE, **headers})


def openai_payload(response: httpx.Response, vendor: str,
                   parse_error: Callable[[httpx.Response], APIError]) -> dict:
    """The JSON object of a successful OpenAI-style answer (Qianfan, Ark); any error answer raises
    the vendor's typed error, any other body a malformed-response error."""
    if response.status_code != 200:
        raise parse_error(response)
    payload = json_body(response, vendor)
    if not isinstance(payload, dict):
        raise malformed(vendor, "body is not an object", response)
    if "error" in payload:
        raise parse_error(response)
    return payload


def malformed(vendor: str, what: str, response: httpx.Response | None = None) -> APIError:
    return ServerError(
        vendor=vendor, code="malformed_response", message=what,
        status_code=response.status_code if response is not None else None,
        request_id=response.headers.get("x-request-id") if response is not None else None,
        retryable=True)


def json_body(response: httpx.Response, vendor: str) -> Any:
    try:
        return json_loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        excerpt = response.content[:120].decode("utf-8", errors="replace")
        raise malformed(vendor, f"response is not JSON: {excerpt!r}", response) from None


_NUMBER_TYPES = frozenset({float, int})


def all_finite(values: Sequence[float]) -> bool:
    """Whether no value is NaN or infinite: one C-speed ``sum`` first, and only when that
    overflows (huge but finite values, like [1e308, 1e308]) a check of every value."""
    try:
        if math.isfinite(sum(values)):
            return True
    except OverflowError:  # a 400-digit integer
        return False
    return all(map(math.isfinite, values))


def as_vector(value: Any, vendor: str, where: str) -> list[float]:
    """A dense vector: a non-empty list of finite numbers (bools are not numbers).

    This runs on every float a vendor sends, so it stays in C loops: the type
    check maps ``type`` over the list, and one ``sum`` is non-finite exactly when
    some element is NaN or infinite (or the values are absurdly large)."""
    if not isinstance(value, list) or not value:
        raise malformed(vendor, f"{where}: embedding is not a non-empty list")
    types = set(map(type, value))
    if not types <= _NUMBER_TYPES or not all_finite(value):
        raise malformed(vendor, f"{where}: embedding holds a non-finite or non-numeric value")
    return value if types == {float} else [float(x) for x in value]


def ordered_vectors(
    entries: Any, expected: int, vendor: str, *, index_key: str, vector_key: str,
    decode: Callable[[Any, str], list[float]] | None = None,
) -> list[list[float]]:
    """Vectors sorted by their index, checked to be exactly 0..expected-1, once each, same length."""
    if not isinstance(entries, list):
        raise malformed(vendor, "embedding list missing or not a list")
    by_index: dict[int, list[float]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise malformed(vendor, "embedding entry is not an object")
        idx = entry.get(index_key)
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise malformed(vendor, f"embedding entry has no integer {index_key}")
        if idx in by_index:
            raise malformed(vendor, f"embedding index {idx} appears twice")
        where = f"embedding {idx}"
        raw = entry.get(vector_key)
        by_index[idx] = decode(raw, where) if decode else as_vector(raw, vendor, where)
    if sorted(by_index) != list(range(expected)):
        raise malformed(vendor, f"expected {expected} embeddings indexed 0..{expected - 1}, "
                                f"got indices {sorted(by_index)[:20]}")
    vectors = [by_index[i] for i in range(expected)]
    check_same_length(vectors, vendor)
    return vectors


def check_same_length(vectors: Sequence[list[float]], vendor: str) -> None:
    if len({len(v) for v in vectors}) > 1:
        raise malformed(vendor, "embeddings in one response have different lengths")


def int_field(mapping: Any, key: str) -> int:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def error_envelope(response: httpx.Response) -> tuple[Any, dict | None, str | None, str]:
    """``(payload, error object, code, message)`` of an OpenAI-style ``{"error": {...}}`` answer
    (Qianfan, Ark); a body that is not such an envelope gives its first 200 bytes as message."""
    try:
        payload = json_loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return payload, None, None, response.content[:200].decode("utf-8", errors="replace")
    code = error.get("code")
    return payload, error, str(code) if code else None, str(error.get("message", ""))


def http_error(
    response: httpx.Response, vendor: str, *, code: str | None, message: str, request_id: str | None,
    not_retryable_codes: Callable[[str], bool] = lambda code: False,
) -> APIError:
    """Map an HTTP error answer to the typed error (OpenAI-style statuses: Qianfan, Ark)."""
    status = response.status_code
    retry_after = _retry_after_ms(response.headers.get("retry-after-ms"))
    if retry_after is None:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
    retryable = status in RETRYABLE_STATUS or status >= 500
    if code and not_retryable_codes(code):
        retryable = False
    should_retry = response.headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        retryable = should_retry == "true"
    cls: type[APIError]
    if status in (401, 403):
        cls = AuthenticationError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    else:
        cls = BadRequestError
    return cls(vendor=vendor, code=code or f"http_{status}", message=message, status_code=status,
               request_id=request_id, retryable=retryable, retry_after=retry_after)


def _retry_after_ms(value: str | None) -> float | None:
    """``retry-after-ms`` in seconds; a value that is not a finite, non-negative number is ignored."""
    try:
        seconds = float(value) / 1000 if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def check_modalities(items: Sequence[Item], allowed: set[str], model: str) -> None:
    """A text-only model asked for media is a configuration mistake; a mix the model
    cannot fuse (Tencent text+image, Qianfan video) is a bad input."""
    for index, item in enumerate(items):
        extra = set(item.modalities) - allowed
        if not extra:
            continue
        what = f"{model} cannot embed {'+'.join(item.modalities)} (it accepts: {', '.join(sorted(allowed))})"
        if allowed == {"text"}:
            raise ConfigurationError(f"input {index}: {what}; it is a text-only model")
        raise InvalidInputError(what, index=index, rule="modality")
