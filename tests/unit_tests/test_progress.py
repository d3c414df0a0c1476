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


def test_off_a_terminal_progress_is_plain_lines_at_most_every_interval(monkeypatch, capsys):
    from cn_embeddings import _progress

    now = [0.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: now[0])
    with progress_bar(40, True, desc="embedding") as advance:  # pytest's stderr is not a terminal
        for _ in range(4):
            advance(10)
            now[0] += 6.0  # lines at most every LINE_EVERY (10 s), and one at the end
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines() == [
        "embedding: 30/40 inputs, 2.5/s, ETA 4s",  # at 12 s: the first 10 s have passed
        "embedding: 40/40 inputs, 2.2/s, ETA 0s",
    ]
