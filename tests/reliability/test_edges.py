"""Edges that must hold: non-list inputs, credentials that cannot be headers, odd retry headers,
and a limiter that is really off when asked."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cn_embeddings import ArkClient, ConfigurationError, InvalidInputError, QianfanClient
from cn_embeddings.vendors import qianfan


@pytest.mark.parametrize("bad", [{"text": "a red hat", "image": "ok.png"}, None, 5, Path("x.png"), "one text"])
def test_a_single_value_instead_of_a_list_is_refused_before_any_request(bad):
    sent = []
    client = ArkClient(api_key="k" * 8, http_client=httpx.Client(transport=httpx.MockTransport(sent.append)))
    with pytest.raises(InvalidInputError, match="expected a list of inputs"):
        client.embed(bad)
    assert sent == []


@pytest.mark.parametrize("key", ["ark-key\nInjected: 1", "ark key", "ark-key\x00", "ark\u200bkey"])
def test_credentials_with_whitespace_or_control_characters_are_refused_without_echo(key, monkeypatch):
    monkeypatch.delenv("ARK_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as caught:
        ArkClient(api_key=key)
    assert key not in str(caught.value) and repr(key) not in str(caught.value)


@pytest.mark.parametrize("header, expected", [({"retry-after-ms": "1,000"}, None), ({"retry-after-ms": "nan"}, None),
                                               ({"retry-after-ms": "-5"}, None), ({"retry-after-ms": "1500"}, 1.5),
                                               ({"retry-after-ms": "x", "retry-after": "2"}, 2.0)])
def test_retry_after_headers_that_are_not_numbers_are_ignored(header, expected):
    response = httpx.Response(429, headers=header, json={"error": {"code": "rate_limit", "message": "slow"}})
    error = qianfan.parse_error(response)
    assert error.retryable and error.retry_after == expected


def test_requests_per_second_zero_turns_limiting_fully_off():
    client = QianfanClient(api_key="k" * 8, requests_per_second=0)
    limiter = client.limiter
    for _ in range(100):
        limiter.record(throttled=True)
    assert limiter.rate is None and all(limiter.reserve() == 0 for _ in range(50))
    assert limiter is not QianfanClient(api_key="k" * 8, requests_per_second=0).limiter
