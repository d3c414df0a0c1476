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

from .. import _longtext, _tokens
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
from .._longtext import LongInputs
from .._retry import RETRYABLE_STATUS, parse_retry_after

try:  # about 10x faster than json on float vectors (benchmarks/json_parsing.py); same results
    from orjson import loads as json_loads
except ImportError:  # pragma: no cover - the [fast] extra is not installed
    from json import loads as json_loads  # type: ignore[assignment]

JSON_CONTENT_TYPE = "application/json"


LONG_HINT = "(long_inputs='truncate' cuts it, long_inputs='split' embeds it in pieces)"


@dataclass(frozen=True)
class TextRule:
    """A text limit: ``max_chars`` characters, ``max_bytes`` UTF-8 bytes, and ``max_tokens`` counted
    offline by ``tokenizer`` (``"qwen"``: exact, with the [tokens] extra; ``"bert"``: exact with
    ``vocabulary``'s own tokenizer when it is at hand, else bounds).

    A text over the limit is refused, cut to the longest true prefix that fits, or split into
    consecutive pieces that fit (``long_inputs``; see :mod:`cn_embeddings._longtext`). The content
    check runs on what would be sent: a cut with nothing visible left is refused."""

    max_chars: int | None = None
    max_bytes: int | None = None
    max_tokens: int | None = None
    tokenizer: str | None = None
    vocabulary: str | None = None  # a "bert" tokenizer's Hugging Face repository (``_tokens.use_vocabulary``)

    def _count(self, text: str) -> int | None:
        """Exact tokens, where the model's own tokenizer is at hand; else None."""
        if self.tokenizer == "qwen":
            return _tokens.qwen_count(text)
        if self.tokenizer == "bert" and self.vocabulary is not None:
            return _tokens.wordpiece_count(self.vocabulary, text)
        return None

    def fits(self, text: str) -> bool:
        """Whether ``text`` is surely within every limit (a BERT text whose bounds straddle the
        limit does not surely fit)."""
        if self.max_chars is not None and len(text) > self.max_chars:
            return False
        if (
            self.max_bytes is not None
            and len(text) > self.max_bytes // 4
            and len(text.encode("utf-8")) > self.max_bytes
        ):
            return False
        if self.max_tokens is not None:
            count = self._count(text)
            if count is not None:
                return count <= self.max_tokens
            return self.tokenizer != "bert" or _tokens.bert_most(text) <= self.max_tokens
        return True

    def length(self, text: str) -> int:
        """``text``'s length in the unit of the limit: tokens where they are counted exactly, else
        characters or bytes (the weight of a piece in a split)."""
        if self.max_tokens is not None and (count := self._count(text)) is not None:
            return count
        if self.max_chars is None and self.max_bytes is not None:
            return len(text.encode("utf-8"))
        return len(text)

    def _guess(self, text: str) -> int:
        """About how many characters fit: where the search for the longest prefix starts."""
        guesses = [len(text)]
        if self.max_chars is not None:
            guesses.append(self.max_chars)
        if self.max_bytes is not None:
            guesses.append(len(text.encode("utf-8")[: self.max_bytes].decode("utf-8", errors="ignore")))
        if self.max_tokens is not None:
            if self.tokenizer == "qwen":
                guesses.append(_tokens.qwen_prefix_guess(text, self.max_tokens) or len(text))
            else:
                guess = (
                    _tokens.wordpiece_prefix_guess(self.vocabulary, text, self.max_tokens) if self.vocabulary else None
                )
                guesses.append(self.max_tokens if guess is None else guess)
        return min(guesses)

    def _refusal(self, text: str, model: str) -> str | None:
        """Why ``text`` cannot be sent whole, or None when it may fit (the vendor decides)."""
        if self.max_chars is not None and len(text) > self.max_chars:
            return f"text has {len(text)} characters; {model} accepts at most {self.max_chars}"
        size = len(text.encode("utf-8"))
        if self.max_bytes is not None and size > self.max_bytes:
            return f"text has {size} UTF-8 bytes; {model} accepts at most {self.max_bytes}"
        if self.max_tokens is None:
            return None
        count = self._count(text)
        if count is not None and count > self.max_tokens:
            return f"text has {count} tokens; {model} accepts at most {self.max_tokens}"
        if count is None and self.tokenizer == "bert":
            low = _tokens.bert_bounds(text)[0]
            if low > self.max_tokens:
                return f"text has at least {low} tokens; {model} accepts at most {self.max_tokens}"
        return None

    def check(self, text: str, index: int, long_inputs: LongInputs, model: str) -> str | tuple[tuple[str, int], ...]:
        """What to send for ``text``: itself, its cut, or (``"split"``) its pieces with their
        lengths; raises InvalidInputError naming the input and the limit."""
        if self.fits(text):
            return text
        if long_inputs == "error":
            problem = self._refusal(text, model)
            if problem is None:
                return text  # it may fit: the vendor decides
            raise InvalidInputError(f"{problem} {LONG_HINT}", index=index, rule=_rule(problem))
        limit = self._describe(model)
        if long_inputs == "truncate":
            cut = _longtext.longest_prefix(text, self.fits, self._guess(text))
            if not _longtext.has_content(cut):
                raise InvalidInputError(
                    f"text has no visible content within {limit}, where it is cut", index=index, rule="non-empty"
                )
            return cut
        try:
            parts = _longtext.pieces(text, self.fits, self._guess)
        except ValueError:
            raise InvalidInputError(
                f"text holds a character sequence longer than {limit}; it cannot be split",
                index=index,
                rule="text-length",
            ) from None
        kept = tuple((part, self.length(part)) for part in parts if _longtext.has_content(part))
        if not kept:  # a whole text without content is refused before this; kept for safety
            raise InvalidInputError("text has no visible content", index=index, rule="non-empty")
        return kept

    def _describe(self, model: str) -> str:
        parts = [
            f"{self.max_chars} characters" if self.max_chars else "",
            f"{self.max_bytes} UTF-8 bytes" if self.max_bytes else "",
            f"{self.max_tokens} tokens" if self.max_tokens else "",
        ]
        return f"{model}'s limit of " + " and ".join(p for p in parts if p)


def _rule(problem: str) -> str:
    return "text-tokens" if "tokens" in problem else "text-length"


def prepare_text(
    rule: TextRule, item: Item, index: int, long_inputs: LongInputs, model: str
) -> tuple[str | None, tuple[tuple[str, int], ...]]:
    """An item's text to send and, when it is split, its pieces (the text then stays whole, for
    the record). Only an input that is a text alone is split: the pieces of a text fused with an
    image or video would each be fused with it."""
    if item.text is None:
        return None, ()
    checked = rule.check(item.text, index, long_inputs, model)
    if isinstance(checked, str):
        return checked, ()
    if item.modalities != ("text",):
        raise InvalidInputError(
            f"text is over {rule._describe(model)} and goes with an image or video, so it "
            "cannot be split (long_inputs='truncate' cuts it)",
            index=index,
            rule="text-length",
        )
    if len(checked) == 1:
        return checked[0][0], ()
    return item.text, checked


def json_request(url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Request:
    """A POST whose body is serialised once, to the exact bytes that are sent (and signed)."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return httpx.Request("POST", url, content=content, headers={"Content-Type": JSON_CONTENT_TYPE, **headers})


def openai_payload(
    response: httpx.Response, vendor: str, parse_error: Callable[[httpx.Response], APIError]
) -> dict[str, Any]:
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


def malformed(vendor: str, what: str, response: httpx.Response | None = None, *, retryable: bool = True) -> APIError:
    """An answer that is not what the vendor documents: retried (a garbled answer may come out
    whole next time) unless ``retryable`` is False (asking again gets the same answer)."""
    return ServerError(
        vendor=vendor,
        code="malformed_response",
        message=what,
        status_code=response.status_code if response is not None else None,
        request_id=response.headers.get("x-request-id") if response is not None else None,
        retryable=retryable,
    )


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
    entries: Any,
    expected: int,
    vendor: str,
    *,
    index_key: str,
    vector_key: str,
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
        raise malformed(
            vendor, f"expected {expected} embeddings indexed 0..{expected - 1}, got indices {sorted(by_index)[:20]}"
        )
    vectors = [by_index[i] for i in range(expected)]
    check_same_length(vectors, vendor)
    return vectors


def check_same_length(vectors: Sequence[list[float]], vendor: str) -> None:
    if len({len(v) for v in vectors}) > 1:
        raise malformed(vendor, "embeddings in one response have different lengths")


def int_field(mapping: Any, key: str) -> int:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def error_envelope(response: httpx.Response) -> tuple[Any, dict[str, Any] | None, str | None, str]:
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
    response: httpx.Response,
    vendor: str,
    *,
    code: str | None,
    message: str,
    request_id: str | None,
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
    return cls(
        vendor=vendor,
        code=code or f"http_{status}",
        message=message,
        status_code=status,
        request_id=request_id,
        retryable=retryable,
        retry_after=retry_after,
    )


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
