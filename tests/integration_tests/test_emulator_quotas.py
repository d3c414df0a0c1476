"""The emulator's quota refusals carry each vendor's code for the bound they speak of."""

from __future__ import annotations

import pytest

from cn_embeddings import RateLimitError
from cn_embeddings.testing import Faults


@pytest.mark.parametrize("kind, limit", [("tokens", "tokens"), ("inflight", "in_flight"), ("moving", "requests")])
def test_the_emulator_refuses_with_the_code_of_the_bound(emu, kind, limit):
    """Ark's refusals name the bound (TPM, in flight, requests); the client reads which one."""
    emu.faults = Faults(qps=1 if kind != "tokens" else 5, quota_kind=kind, quota_window=60)
    client = emu.client("ark", requests_per_second=0, max_retries=0)
    if kind == "inflight":
        emu.faults.latency_ms = 300
    with pytest.raises(RateLimitError) as info:
        client.embed_texts([f"text number {i}" for i in range(4)])
    assert info.value.limit == limit
