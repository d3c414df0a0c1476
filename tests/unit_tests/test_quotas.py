"""The emulator's kinds of quota decide on a fake clock exactly as their definitions say."""

from __future__ import annotations

import pytest

from cn_embeddings.testing._quotas import QuotaRule, make_quota


def admitted(kind: str, times: list[float], limit: float = 3, tokens: int = 0) -> list[bool]:
    quota = make_quota(QuotaRule(kind, limit, 1.0))
    return [quota.admit(t, tokens) for t in times]


def test_a_moving_window_admits_limit_in_any_window():
    assert admitted("moving", [0.0, 0.1, 0.2, 0.3, 0.99, 1.05, 1.15]) == [True, True, True, False, False, True, True]


def test_fixed_windows_reset_at_each_boundary():
    assert admitted("fixed", [0.7, 0.8, 0.9, 0.95, 1.0, 1.01, 1.02, 1.03]) == [
        True,
        True,
        True,
        False,
        True,
        True,
        True,
        False,
    ]


def test_a_token_bucket_starts_full_and_refills_at_the_rate():
    assert admitted("bucket", [0.0, 0.0, 0.0, 0.0, 0.34, 0.35]) == [True, True, True, False, True, False]


def test_a_counting_window_counts_refused_requests_too():
    # at 4/s against 3/s, a moving window admits 3 of every 4; one that counts refusals admits
    # nothing once it is full, until the sender slows down
    times = [i * 0.25 for i in range(12)]
    assert sum(admitted("moving", times)) == 9
    assert sum(admitted("counting", times)) == 3


def test_a_token_quota_counts_tokens():
    assert admitted("tokens", [0.0, 0.1, 0.2], limit=500, tokens=200) == [True, True, False]


def test_an_in_flight_cap_counts_requests_until_they_are_done():
    quota = make_quota(QuotaRule("inflight", 2))
    assert [quota.admit(0.0), quota.admit(0.0), quota.admit(0.0)] == [True, True, False]
    quota.done()
    assert quota.admit(0.0)


def test_unknown_kinds_and_limits_are_refused():
    with pytest.raises(ValueError, match="unknown quota kind"):
        QuotaRule("leaky", 3)
    with pytest.raises(ValueError, match="positive"):
        QuotaRule("moving", 0)
