"""Answers that report more (or fewer) tokens than the client estimates, end to end on the emulator.

A vendor's tokenizer counts a few tokens more per text than the client's character estimate (a
usage scale of about 1.3). The token pacer learns that ratio from each answer against that
request's own estimate; priced against the ratio *now* instead, with twenty requests in flight
every answer raised it against an estimate already raised by the others, and every Ark call
stalled behind a token schedule running ever further ahead of the clock.
"""

from __future__ import annotations

import time

import pytest

from cn_embeddings.testing import Faults

HANG = 60.0  # seconds: a guard against a stall, not a speed measure (benchmarks/ measures speed)


@pytest.mark.parametrize("scale", [0.5, 1.3, 3.0])
def test_ark_learns_the_reported_usage_and_never_stalls(emu, scale):
    emu.faults = Faults(latency_ms=50, latency_jitter=0.2, usage_scale=scale)
    client = emu.client("ark", remember_quota=False)  # doubao-embedding-vision: 200 requests
    texts = [f"第 {i} 段文字, some words of text {i}" for i in range(200)]  # one request each
    started = time.monotonic()
    vectors = client.embed_texts(texts)
    assert len(vectors) == 200 and time.monotonic() - started < HANG
    controller = client.controller
    assert controller.pacer.ratio == pytest.approx(scale, rel=0.1)
    assert controller.stats().refused == 0
    # the token schedule holds no debt beyond a window once nothing is in flight
    assert controller.pacer.tokens.tat <= controller.clock() + 1.0
