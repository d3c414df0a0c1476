"""Texts over a model's limit: cut to a true prefix, or split into consecutive pieces.

A cut text is always a prefix of the original, code point for code point: it is
never normalised (Qwen's tokenizer composes NFD text to NFC, so a decoded cut is
not a prefix of what the user wrote) and it ends on a grapheme cluster boundary
(Unicode UAX #29, as the ``regex`` module's ``\\X`` finds them), so no surrogate
pair, emoji sequence, Hangul syllable of jamo or combining mark is cut in two.

Each limit of a :class:`~cn_embeddings.vendors._common.TextRule` is a predicate
that grows with the prefix (characters, UTF-8 bytes, tokens), so the longest
prefix that fits is found by bisection over the cluster boundaries; a split
takes that longest prefix again and again.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._inputs import Item

__all__ = ["LongInputs", "boundaries", "expand", "has_content", "longest_prefix", "merge", "pieces"]

# What to do with a text over a model's limit (the ``long_inputs`` option)
LongInputs = Literal["error", "truncate", "split"]

# Characters that carry no content: controls, format characters (zero-width space, BOM, RLM...),
# combining marks on nothing, separators.
NO_CONTENT = frozenset({"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp", "Cs"})


def has_content(text: str) -> bool:
    """Whether ``text`` holds at least one character a reader sees."""
    return any(unicodedata.category(ch) not in NO_CONTENT for ch in text)


@functools.cache
def _grapheme() -> Any:
    import regex

    return regex.compile(r"\X")


def boundaries(text: str) -> list[int]:
    """Every grapheme cluster boundary of ``text`` after its start: ``[end of 1st cluster, ...,
    len(text)]``."""
    return [match.end() for match in _grapheme().finditer(text)]


def longest_prefix(text: str, fits: Callable[[str], bool], hint: int | None = None) -> str:
    """The longest prefix of ``text`` ending on a cluster boundary for which ``fits`` holds
    (``fits`` must hold for every shorter prefix when it holds for a longer one); ``""`` when not
    even the first cluster fits. ``hint``: a guess at its length in code points, which bounds the
    search (galloping from it, as a text of a megabyte is not encoded whole at every step)."""
    ends = boundaries(text)
    return text[: ends[k - 1]] if (k := _longest(text, ends, 0, 0, fits, hint)) else ""


def pieces(text: str, fits: Callable[[str], bool], hint: Callable[[str], int | None] | None = None) -> list[str]:
    """``text`` as consecutive pieces, each the longest that fits, in order; their concatenation
    is ``text``. Raises ValueError when one cluster alone does not fit.

    Linear in the text's length: the cluster boundaries are found once, ``hint`` is asked once
    (for the first piece), and each later search gallops from the previous piece's length, so
    ``fits`` only ever sees a few slices about a piece long."""
    ends = boundaries(text)
    out: list[str] = []
    start = first = 0  # where the next piece starts, and the index of its first boundary
    guess = hint(text) if hint else None
    while first < len(ends):
        after = _longest(text, ends, start, first, fits, guess)
        if after == first:
            raise ValueError("a single character does not fit the limit")
        end = ends[after - 1]
        out.append(text[start:end])
        guess, start, first = end - start, end, after
    return out


def _longest(text: str, ends: list[int], start: int, first: int, fits: Callable[[str], bool], guess: int | None) -> int:
    """The index after the last boundary ``ends[k]`` (``k >= first``) up to which the piece from
    ``start`` fits; ``first`` when none does. An exponential search from the boundary nearest
    ``guess`` code points (None: the whole rest), up or down by 1, 2, 4... boundaries, then a
    bisection: two probes when the guess is right, as it is for most pieces of a long text."""
    last = len(ends) - 1
    at = last if guess is None else min(max(bisect.bisect_right(ends, start + max(guess, 1)) - 1, first), last)

    def ok(index: int) -> bool:
        return fits(text[start : ends[index]])

    step = 1
    if ok(at):
        lo, hi = at + 1, len(ends)  # the answer lies in [lo, hi]
        while lo < hi:
            probe = min(at + step, hi - 1)
            if not ok(probe):
                hi = probe
                break
            lo, at, step = probe + 1, probe, step * 2
    else:
        lo, hi = first, at
        while lo < hi:
            probe = max(at - step, lo)
            if ok(probe):
                lo = probe + 1
                break
            hi, at, step = probe, probe, step * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


def expand(items: list[Item]) -> tuple[list[Item], list[int] | None]:
    """The items to send, each split input's pieces in its place, and the input each belongs to
    (None when nothing was split)."""
    if not any(item.pieces for item in items):
        return items, None
    sent: list[Item] = []
    owners: list[int] = []
    for index, item in enumerate(items):
        if not item.pieces:
            sent.append(item)
            owners.append(index)
            continue
        for text, _ in item.pieces:
            sent.append(dataclasses.replace(item, text=text, pieces=()))
            owners.append(index)
    return sent, owners


def merge(
    items: Sequence[Item], owners: Sequence[int], vectors: Sequence[list[float] | None]
) -> list[list[float] | None]:
    """One vector per input: a split input's is the average of its pieces' vectors weighted by the
    pieces' lengths, L2-normalised; None when a piece has none (not embedded)."""
    out: list[list[float] | None] = []
    position = 0
    for index, item in enumerate(items):
        parts = item.pieces or ((None, 1),)
        mine = vectors[position : position + len(parts)]
        assert all(owner == index for owner in owners[position : position + len(parts)])
        position += len(parts)
        if any(vector is None for vector in mine):
            out.append(None)
        elif not item.pieces:
            out.append(mine[0])
        else:
            total = [0.0] * len(mine[0])  # type: ignore[arg-type]
            for (_, weight), vector in zip(parts, mine, strict=True):
                for k, value in enumerate(vector):  # type: ignore[arg-type]
                    total[k] += weight * value
            norm = math.sqrt(sum(value * value for value in total)) or 1.0
            out.append([value / norm for value in total])
    return out
