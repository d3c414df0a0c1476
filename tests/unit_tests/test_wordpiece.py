"""Exact WordPiece counts for the BERT-family models (bge, tao-8k): with the model's vocabulary, a
cut or a split fills the window instead of the quarter the upper bound leaves on English.

The models' own vocabularies are not in this repository; the tests train a WordPiece vocabulary
with the same library (``tokenizers``) on English and Chinese prose, and count with it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cn_embeddings import ConfigurationError, _tokens, use_vocabulary
from cn_embeddings.vendors.qianfan import TEXT_MODELS

ROOT = Path(__file__).resolve().parents[2]


def _prose() -> str:
    """English prose (the documentation) and Chinese (the demo corpus)."""
    english = " ".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").rglob("*.md")))
    return english + (ROOT / "cn_embeddings" / "data" / "corpus.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory):
    from tokenizers import BertWordPieceTokenizer

    trained = BertWordPieceTokenizer(lowercase=True)
    trained.train_from_iterator(_prose().splitlines(), vocab_size=4000)
    folder = tmp_path_factory.mktemp("vocab")
    trained.save_model(str(folder))
    return folder / "vocab.txt"


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(_tokens, "_VOCABULARIES", {})


def _english(chars: int) -> str:
    text = " ".join(_prose().split())
    start = text.index("Rate")
    return text[start : start + chars]


def _used(rule, text: str) -> float:
    """How much of the window a text uses: the larger share of the token and character limits."""
    return max(_tokens.wordpiece_count(rule.vocabulary, text) / rule.max_tokens, len(text) / rule.max_chars)


@pytest.mark.parametrize("model", ["bge-large-en", "tao-8k"])
def test_an_english_cut_fills_at_least_nine_tenths_of_the_window_and_never_passes_it(vocabulary, fresh, model):
    rule = TEXT_MODELS[model][1]
    text = _english(rule.max_chars * 3)
    bound = rule.check(text, 0, "truncate", model)  # without the vocabulary: the upper bound
    use_vocabulary(rule.vocabulary, vocabulary)
    cut = rule.check(text, 0, "truncate", model)
    assert isinstance(cut, str) and text.startswith(cut)
    assert _tokens.wordpiece_count(rule.vocabulary, cut) <= rule.max_tokens and len(cut) <= rule.max_chars
    assert _used(rule, cut) >= 0.9, (model, _used(rule, cut))
    assert len(cut) >= 2 * len(bound)  # the bound kept well under half of it


def test_chinese_under_bge_large_zh_fills_the_window_too(vocabulary, fresh):
    rule = TEXT_MODELS["bge-large-zh"][1]
    use_vocabulary(rule.vocabulary, vocabulary)
    text = (ROOT / "cn_embeddings" / "data" / "corpus.txt").read_text(encoding="utf-8").replace("\n", "") * 40
    cut = rule.check(text, 0, "truncate", "bge-large-zh")
    assert isinstance(cut, str) and 0.9 <= _used(rule, cut) and _tokens.wordpiece_count(rule.vocabulary, cut) <= 512


def test_a_split_pays_for_as_few_pieces_as_the_window_allows(vocabulary, fresh):
    rule = TEXT_MODELS["bge-large-en"][1]
    text = _english(7320)
    assert len(rule.check(text, 0, "split", "bge-large-en")) >= 10  # the bound: a piece a quarter full
    use_vocabulary(rule.vocabulary, vocabulary)
    pieces = rule.check(text, 0, "split", "bge-large-en")
    tokens = _tokens.wordpiece_count(rule.vocabulary, text)
    least = max(math.ceil(tokens / rule.max_tokens), math.ceil(len(text) / rule.max_chars))
    assert least <= len(pieces) <= least + 1
    assert "".join(piece for piece, _ in pieces).split() == text.split()
    for piece, weight in pieces:
        assert weight == _tokens.wordpiece_count(rule.vocabulary, piece) <= rule.max_tokens


def test_a_text_over_the_window_is_refused_with_its_exact_count(vocabulary, fresh):
    from cn_embeddings import InvalidInputError

    rule = TEXT_MODELS["bge-large-en"][1]
    use_vocabulary(rule.vocabulary, vocabulary)
    text = "antidisestablishmentarianism " * 60  # under 2,000 characters, many pieces a word
    count = _tokens.wordpiece_count(rule.vocabulary, text)
    with pytest.raises(InvalidInputError, match=rf"text has {count} tokens; bge-large-en accepts at most 512"):
        rule.check(text, 3, "error", "bge-large-en")


def test_the_vocabulary_is_found_in_the_hugging_face_cache_and_never_downloaded(vocabulary, fresh, tmp_path,
                                                                                 monkeypatch):  # fmt: skip
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rule = TEXT_MODELS["tao-8k"][1]
    assert _tokens.wordpiece_count(rule.vocabulary, "hello") is None  # not in the cache: the bounds
    monkeypatch.setattr(_tokens, "_VOCABULARIES", {})
    repo = tmp_path / "models--amu--tao-8k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "vocab.txt").write_bytes(vocabulary.read_bytes())
    use_vocabulary("given", vocabulary)
    text = _english(3000)
    assert _tokens.wordpiece_count(rule.vocabulary, text) == _tokens.wordpiece_count("given", text) < len(text) / 3


def test_an_unreadable_vocabulary_is_refused_when_it_is_given(tmp_path, fresh):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigurationError, match="not a readable tokenizer.json or vocab.txt"):
        use_vocabulary("BAAI/bge-large-en", bad)
    assert "BAAI/bge-large-en" not in _tokens._VOCABULARIES  # nothing registered
