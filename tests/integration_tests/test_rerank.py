"""Rerank against the emulator: exact order and scores, requests split past the per-request limit,
bad input refused before the wire, typed and secret-free errors, sync and async."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from cn_embeddings import APIError, AuthenticationError, InvalidInputError, RateLimitError
from cn_embeddings.testing import Faults, relevance

VENDORS = [("qianfan", 64), ("tencent", 50), ("volcengine", 50)]
QUERY = "where do giant pandas eat bamboo"
DOCS = [
    f"document {i}: "
    + ("giant pandas eat bamboo" if i % 37 == 5 else "pandas" if i % 11 == 0 else "the weather is fine")
    + f" number {i}"
    for i in range(150)
]


def expected(query: str, documents: list[str]) -> list[tuple[int, float]]:
    """The ranking the emulator's scores give: best first, ties in input order."""
    return sorted(((i, relevance(query, d)) for i, d in enumerate(documents)), key=lambda p: (-p[1], p[0]))


@pytest.mark.parametrize("vendor,per_request", VENDORS)
def test_a_global_ranking_across_requests_sync_and_async(emu, vendor, per_request):
    client = emu.reranker(vendor, requests_per_second=0)
    result = client.rerank(QUERY, DOCS)
    assert [tuple(r) for r in result.results] == expected(QUERY, DOCS)
    sizes = sorted(s.inputs for s in emu.seen)
    assert sizes == sorted([per_request] * (150 // per_request) + [150 % per_request] * (150 % per_request > 0)), (
        "Qianfan: 64 + 64 + 22"
    )
    assert result.usage.requests == len(sizes) and result.usage.total_tokens > 0
    top = asyncio.run(client.arerank(QUERY, DOCS, top_n=5))
    assert [tuple(r) for r in top.results] == expected(QUERY, DOCS)[:5]
    assert top.results[0].index in (5, 42, 79, 116) and top.results[0].relevance_score > 0.5


@pytest.mark.parametrize("vendor", ["qianfan", "tencent", "volcengine"])
def test_no_documents_no_request_and_bad_input_refused_before_the_wire(emu, vendor):
    client = emu.reranker(vendor)
    assert client.rerank(QUERY, []).results == []
    with pytest.raises(InvalidInputError, match="query is empty"):
        client.rerank("  ", ["a"])
    with pytest.raises(InvalidInputError, match="document is empty") as caught:
        client.rerank(QUERY, ["fine", "\u200b"])
    assert caught.value.index == 1
    for top_n in (0, -1, True, 2.5):
        with pytest.raises(InvalidInputError, match="top_n must be a positive integer"):
            client.rerank(QUERY, ["a"], top_n=top_n)
    with pytest.raises(InvalidInputError, match="list of str"):
        client.rerank(QUERY, "one document")
    assert emu.requests == 0


def test_qianfan_lengths_are_checked_by_name():
    from cn_embeddings import QianfanRerankClient

    client = QianfanRerankClient(api_key="k")
    with pytest.raises(
        InvalidInputError, match="4097 characters; qianfan bce-reranker-base accepts at most 4096"
    ) as caught:
        client.rerank("q", ["ok", "x" * 4097])
    assert caught.value.index == 1 and caught.value.rule == "text-length"
    with pytest.raises(InvalidInputError, match="query has 1601 characters"):
        client.rerank("q" * 1601, ["ok"])


def test_errors_are_typed_and_carry_no_secret(emu):
    wrong = {
        "qianfan": {"api_key": "qf-WRONG-KEY-123"},
        "tencent": {"secret_key": "tc-WRONG-KEY-123"},
        "volcengine": {"secret_key": "volc-WRONG-KEY-123"},
    }
    for vendor, creds in wrong.items():
        client = emu.reranker(vendor, **creds)
        with pytest.raises(APIError) as caught:
            client.rerank(QUERY, DOCS[:3])
        error = caught.value
        assert error.vendor == vendor and error.code and error.request_id
        assert isinstance(error, AuthenticationError) or vendor == "volcengine" and error.status_code == 401
        text = f"{error!s} {error!r} {vars(error)} {client!r} {vars(client)}"
        assert "WRONG-KEY-123" not in text
    assert "WRONG" not in repr(pickle.loads(pickle.dumps(emu.reranker("volcengine", secret_key="x-WRONG"))))


def test_a_failure_keeps_the_record_of_what_was_scored(emu):
    emu.faults = Faults(rate_limit_rate=1.0)
    client = emu.reranker("qianfan", max_retries=0, zero_waits=True, requests_per_second=0, max_concurrency=1)
    with pytest.raises(RateLimitError) as caught:
        client.rerank(QUERY, DOCS)
    # one place in flight, but which worker takes it first is a race: the failed request is one
    # whole batch of 64 (or the last 22), and nothing was scored
    batches = [list(range(0, 64)), list(range(64, 128)), list(range(128, 150))]
    assert caught.value.not_embedded == list(range(150)) and caught.value.failed in batches
