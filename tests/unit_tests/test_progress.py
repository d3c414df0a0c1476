"""The progress bar advances per input, with tqdm or without it."""

from __future__ import annotations

import sys

from cn_embeddings._progress import progress_bar


def test_plain_bar_when_tqdm_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes `from tqdm.auto import tqdm` fail
    with progress_bar(30, True, desc="embedding") as advance:
        for _ in range(3):
            advance(10)
    err = capsys.readouterr().err
    assert "embedding: 30/30 inputs" in err and "ETA" in err


def test_disabled_or_empty_gives_no_callback():
    with progress_bar(10, False) as advance:
        assert advance is None
    with progress_bar(0, True) as advance:
        assert advance is None
