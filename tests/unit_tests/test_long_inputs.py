"""Texts over a model's limit: refused, cut to a true prefix, or split into pieces; all decided
before any request."""

from __future__ import annotations

import json
import math
import unicodedata

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cn_embeddings import APIError, ArkClient, ConfigurationError, InvalidInputError, QianfanClient, TencentCloudClient
from cn_embeddings._longtext import boundaries, longest_prefix
from cn_embeddings._tokens import qwen_count
from cn_embeddings.vendors._common import TextRule

QWEN = TextRule(max_tokens=8192, tokenizer="qwen")


def never(request):
    raise AssertionError("no request may be sent")


def mock(cls, model, handler=never, **kw):
    creds = {"secret_id": "i", "secret_key": "k"} if cls is TencentCloudClient else {"api_key": "k"}
    return cls(model, **creds, http_client=httpx.Client(transport=httpx.MockTransport(handler)), **kw)


def words(n: int) -> str:
    return " ".join(f"w{i % 97}x" for i in range(n))


# -- Qwen: the longest true prefix within the token limit -------------------------------------------


def assert_longest_prefix(text: str, cut: str, limit: int) -> None:
    assert text.startswith(cut), "a cut is a prefix of the original, code point for code point"
    assert qwen_count(cut) <= limit
    ends = boundaries(text)
    assert len(cut) in [0, *ends], "a cut ends on a grapheme cluster boundary"
    following = [end for end in ends if end > len(cut)]
    assert following and qwen_count(text[: following[0]]) > limit, "one more cluster would not fit"


def test_qwen_cut_keeps_a_decomposed_accent_at_the_start():
    text = "Cafe\u0301 " + words(9000)
    cut = QWEN.check(text, 0, "truncate", "qwen3-embedding-8b")
    assert cut.startswith("Cafe\u0301 w0x"), "the decomposed accent is kept, and everything after it"
    assert_longest_prefix(text, cut, 8192)
    assert qwen_count(cut) >= 8190


def test_qwen_cut_keeps_a_decomposed_accent_mid_text():
    text = words(2000) + " Cafe\u0301 " + words(7000)
    cut = QWEN.check(text, 0, "truncate", "qwen3-embedding-8b")
    assert_longest_prefix(text, cut, 8192)
    assert qwen_count(cut) >= 8190, "not cut just before the first decomposed character"


def test_qwen_cut_of_a_text_starting_decomposed_is_not_empty():
    text = "e\u0301" + words(9000)
    cut = QWEN.check(text, 0, "truncate", "qwen3-embedding-8b")
    assert cut.startswith("e\u0301w0x")
    assert_longest_prefix(text, cut, 8192)


CLUSTERS = [
    "a",
    "b",
    " ",
    "中",
    "e\u0301",
    "\u00e9",
    "\u1100\u1161\u11a8",
    "\uac01",
    "👍🏽",
    "👨\u200d👩\u200d👧",
    "🇨🇳",
    "a\u0323\u0302",
    "\u0915\u094d\u0937",
    "\U00020000",
    "\u200b",
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(CLUSTERS), min_size=1, max_size=120),
    st.integers(1, 60),
    st.sampled_from(["NFC", "NFD", None]),
)
def test_qwen_cut_property(clusters, limit, form):
    text = "".join(clusters)
    if form:
        text = unicodedata.normalize(form, text)
    rule = TextRule(max_tokens=limit, tokenizer="qwen")
    if qwen_count(text) <= limit:
        assert rule.check(text, 0, "truncate", "m") == text
        return
    cut = longest_prefix(text, rule.fits)
    assert_longest_prefix(text, cut, limit)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(CLUSTERS), min_size=1, max_size=80), st.integers(1, 40))
def test_character_and_byte_cuts_end_on_clusters(clusters, limit):
    text = "".join(clusters)
    for rule, size in ((TextRule(max_chars=limit), len), (TextRule(max_bytes=limit), lambda t: len(t.encode()))):
        cut = longest_prefix(text, rule.fits)
        assert text.startswith(cut) and size(cut) <= limit
        assert len(cut) in [0, *boundaries(text)]
        following = [end for end in boundaries(text) if end > len(cut)]
        assert not following or size(text[: following[0]]) > limit


# -- the content check runs on what would be sent ---------------------------------------------------


@pytest.mark.parametrize(
    "cls,model,text",
    [
        (TencentCloudClient, "WeCLIPv2-Base", "\u200b" * 72 + "a red hat"),
        (QianfanClient, "embedding-v1", "\u3000" * 1000 + "北京"),
        (ArkClient, "doubao-embedding-text-240715", "\u200b" * 33_334 + "sky"),
    ],
)
def test_a_cut_without_visible_content_is_refused_before_the_wire(cls, model, text):
    with pytest.raises(InvalidInputError, match="no visible content") as caught:
        mock(cls, model, long_inputs="truncate").embed_texts(["fine", text])
    assert caught.value.index == 1 and caught.value.rule == "non-empty"


def test_truncate_true_is_an_alias_and_cannot_contradict_split():
    assert mock(QianfanClient, "embedding-v1", truncate=True).long_inputs == "truncate"
    with pytest.raises(ConfigurationError, match="contradict"):
        mock(QianfanClient, "embedding-v1", truncate=True, long_inputs="split")
    with pytest.raises(ConfigurationError, match="long_inputs must be"):
        mock(QianfanClient, "embedding-v1", long_inputs="cut")


def test_refusal_names_the_input_the_limit_and_the_way_out():
    with pytest.raises(InvalidInputError, match=r"3000 characters; embedding-v1 accepts at most 1000 .*split"):
        mock(QianfanClient, "embedding-v1").embed_texts(["ok", "x" * 3000])


# -- split: consecutive pieces, one length-weighted vector ----------------------------------------


def piece_vector(text: str) -> list[float]:
    """A deterministic, distinct vector per piece (not normalised, so weighting shows)."""
    return [float(len(text)), float(sum(map(ord, text)) % 101), 1.0]


def qianfan_answers(sent: list[list[str]], fail_on: int | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        sent.append(inputs)
        if fail_on is not None and len(sent) == fail_on:
            return httpx.Response(400, json={"error": {"code": "invalid_argument", "message": "no"}, "id": "r1"})
        data = [{"index": i, "embedding": piece_vector(text)} for i, text in enumerate(inputs)]
        return httpx.Response(
            200, json={"data": data, "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}}
        )

    return handler


def weighted(parts: list[str]) -> list[float]:
    total = [sum(len(p) * piece_vector(p)[k] for p in parts) for k in range(3)]
    norm = math.sqrt(sum(v * v for v in total))
    return [v / norm for v in total]


def test_split_sends_consecutive_pieces_and_returns_their_weighted_average():
    sent: list[list[str]] = []
    client = mock(
        QianfanClient, "embedding-v1", qianfan_answers(sent), long_inputs="split", requests_per_second=0, batch_size=1
    )
    long_text = "".join(chr(0x4E00 + i % 500) for i in range(3000))
    odd = "ab" * 1100  # 2,200 characters: pieces of 1,000, 1,000 and 200
    result = client.embed(["short", long_text, odd])
    pieces = [text for request in sent for text in request]  # requests go out concurrently, in any order
    first, second = [long_text[:1000], long_text[1000:2000], long_text[2000:]], [odd[:1000], odd[1000:2000], odd[2000:]]
    assert sorted(pieces) == sorted(["short", *first, *second])
    assert result.vectors[0] == piece_vector("short")
    assert result.vectors[1] == pytest.approx(weighted(first))
    assert result.vectors[2] == pytest.approx(weighted(second))
    assert result.usage.requests == 7 and result.usage.total_tokens == 7, "usage counts every piece"


def test_split_failure_names_the_input_not_the_piece():
    sent: list[list[str]] = []
    client = mock(
        QianfanClient,
        "embedding-v1",
        qianfan_answers(sent, fail_on=3),
        long_inputs="split",
        requests_per_second=0,
        batch_size=1,
        max_concurrency=1,
    )
    with pytest.raises(APIError) as caught:
        client.embed(["first", "x" * 2500, "last"])
    error = caught.value
    assert [len(request[0]) for request in sent] == [5, 1000, 1000], "the third request failed; nothing more was sent"
    assert (error.embedded, error.not_embedded, error.failed) == ([0], [1, 2], [1])
    assert error.partial_vectors == {0: piece_vector("first")}
    assert "inputs 1" in str(error)


def test_split_refuses_a_text_fused_with_an_image_and_sparse_requests():
    with pytest.raises(InvalidInputError, match="cannot be split") as caught:
        mock(ArkClient, "doubao-embedding-vision-250615", long_inputs="split").embed(
            ["fine", {"text": "\u4e2d" * 40_000, "image": "https://x.test/a.png"}]
        )
    assert caught.value.index == 1
    with pytest.raises(InvalidInputError, match="one dense vector"):
        mock(ArkClient, "doubao-embedding-vision-250615", long_inputs="split", sparse=True).embed_texts(
            ["\u4e2d" * 40_000]
        )


def test_split_pieces_without_content_are_left_out_of_the_average():
    sent: list[list[str]] = []
    client = mock(QianfanClient, "embedding-v1", qianfan_answers(sent), long_inputs="split", requests_per_second=0)
    text = "内容" * 500 + "\u3000" * 1000 + "尾巴"
    vector = client.embed_texts([text])[0]
    pieces = [t for request in sent for t in request]
    assert pieces == ["内容" * 500, "尾巴"], "the piece of ideographic spaces is not sent"
    assert vector == pytest.approx(weighted(pieces))


def test_a_split_reads_the_text_a_constant_number_of_times(monkeypatch):
    """Splitting was quadratic: each piece found the grapheme boundaries of, and asked for a hint
    about, the whole rest of the text (40,000 characters took 6.8 s at 72 a piece)."""
    from cn_embeddings import _longtext

    scanned: list[int] = []
    real = _longtext.boundaries
    monkeypatch.setattr(_longtext, "boundaries", lambda text: scanned.append(len(text)) or real(text))
    hinted: list[int] = []
    examined: list[int] = []
    text = "熊猫吃竹子。The quick brown fox. " * 1000

    def fits(piece: str) -> bool:
        examined.append(len(piece))
        return len(piece) <= 72

    parts = _longtext.pieces(text, fits, lambda rest: hinted.append(len(rest)) or 72)
    assert "".join(parts) == text and all(len(p) <= 72 for p in parts)
    assert scanned == [len(text)] and hinted == [len(text)]
    assert sum(examined) <= 8 * len(text)  # a few slices about a piece long, per piece


def test_the_fast_wordpiece_bound_is_the_bound():
    import random

    from cn_embeddings._tokens import bert_bounds, bert_most

    rng = random.Random(7)
    alphabet = "ab Zé熊猫。,!\t\n\r\x0b\x0c\u00a0\u2003\u3000\u200b\u0301\ufeff\x00\x7f😀"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert bert_most(text) == bert_bounds(text)[1], repr(text)
