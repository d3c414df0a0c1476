"""TC3-HMAC-SHA256: the official vectors, the official SDK's signer, and fresh signatures per attempt."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cn_embeddings import Secret, TencentCloudClient
from cn_embeddings.auth.tc3 import TC3Auth, sign_tc3, signing_key, utc_date


def test_matches_every_official_vector(tc3_vectors):
    assert len(tc3_vectors["vectors"]) == 3
    for vector in tc3_vectors["vectors"]:
        inputs = vector["inputs"]
        header = sign_tc3(
            secret_id=inputs["secret_id"],
            secret_key=inputs["secret_key"],
            service="es",
            host=inputs["host"],
            content_type=inputs["content_type"],
            body=base64.b64decode(inputs["payload_base64"]),
            timestamp=inputs["timestamp"],
        )
        assert header == vector["expected"]["authorization"], vector["name"]


def test_scope_date_is_utc_not_beijing():
    assert utc_date(1735689599) == "2024-12-31"  # already 2025-01-01 in Beijing


def _sdk_signature(payload: bytes, timestamp: int, host: str, secret_key: str) -> str:
    from tencentcloud.common.credential import Credential
    from tencentcloud.es.v20250101.es_client import EsClient

    client = EsClient(Credential("AKIDTEST", secret_key), "ap-guangzhou")
    req = SimpleNamespace(
        uri="/",
        data=payload,
        method="POST",
        header={"Content-Type": "application/json", "Host": host, "X-TC-Timestamp": str(timestamp)},
    )
    return client._get_tc3_signature(None, req, utc_date(timestamp), "es", secret_key)


payloads = st.fixed_dictionaries(
    {
        "ModelName": st.sampled_from(["WeCLIPv2-Base", "bge-m3"]),
        "Texts": st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=10),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    params=payloads,
    timestamp=st.integers(min_value=1_500_000_000, max_value=2_000_000_000),
    compact=st.booleans(),
    secret_key=st.text(alphabet="abcdefXYZ0123456789", min_size=8, max_size=40),
)
def test_equals_sdk_signer_on_generated_payloads(params, timestamp, compact, secret_key):
    """Chinese, emoji and any other text, escaped (SDK) or raw UTF-8 (ours)."""
    body = (json.dumps(params, ensure_ascii=False, separators=(",", ":")) if compact else json.dumps(params)).encode()
    ours = sign_tc3(
        secret_id="AKIDTEST",
        secret_key=secret_key,
        service="es",
        host="es.tencentcloudapi.com",
        content_type="application/json",
        body=body,
        timestamp=timestamp,
    )
    assert ours.endswith("Signature=" + _sdk_signature(body, timestamp, "es.tencentcloudapi.com", secret_key))


@pytest.mark.parametrize("text", ["红色帽子🎩" * 2000, "emoji 😀👍🏽 mix 中文"])
def test_equals_sdk_signer_on_large_and_emoji_bodies(text):
    body = json.dumps({"ModelName": "bge-m3", "Texts": [text] * 50}, ensure_ascii=False).encode()
    ours = sign_tc3(
        secret_id="AKIDTEST",
        secret_key="k" * 32,
        service="es",
        host="es.tencentcloudapi.com",
        content_type="application/json",
        body=body,
        timestamp=1763700000,
    )
    assert ours.endswith("Signature=" + _sdk_signature(body, 1763700000, "es.tencentcloudapi.com", "k" * 32))


def test_auth_signs_the_bytes_on_the_wire_and_resigns_every_attempt():
    clock = iter([1700000000, 1700000007])
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["X-TC-Timestamp"], request.headers["Authorization"], request.content))
        if len(seen) == 1:
            return httpx.Response(
                200,
                json={"Response": {"Error": {"Code": "RequestLimitExceeded", "Message": "slow"}, "RequestId": "r1"}},
            )
        return httpx.Response(
            200,
            json={"Response": {"Data": {"TextEmbeddings": [{"Embedding": [1.0, 0.0], "Index": 0}]}, "RequestId": "r2"}},
        )

    client = TencentCloudClient(
        secret_id="AKIDTEST",
        secret_key="secret",
        zero_waits=True,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    client.auth.clock = lambda: next(clock)  # type: ignore[attr-defined]
    assert client.embed_texts(["红色帽子"]) == [[1.0, 0.0]]
    (ts1, auth1, body1), (ts2, auth2, body2) = seen
    assert (ts1, ts2) == ("1700000000", "1700000007") and auth1 != auth2 and body1 == body2
    for ts, auth, body in seen:
        assert auth == sign_tc3(
            secret_id="AKIDTEST",
            secret_key="secret",
            service="es",
            host="es.tencentcloudapi.com",
            content_type="application/json",
            body=body,
            timestamp=int(ts),
        )
    assert "红色帽子".encode() in body1  # raw UTF-8 on the wire, hashed as sent


def test_session_token_header_and_key_cache_per_day():
    auth = TC3Auth(Secret("AKIDTEST"), Secret("s3cr3t-key"), Secret("sts-token"), clock=lambda: 1700000000)
    request = httpx.Request(
        "POST", "https://es.tencentcloudapi.com/", content=b"{}", headers={"Content-Type": "application/json"}
    )
    signed = next(auth.auth_flow(request))
    assert signed.headers["X-TC-Token"] == "sts-token"
    assert auth.cached_key_date == "2023-11-14"
    day_key = signing_key("s3cr3t-key", "2023-11-14", "es").hex()
    assert "2023-11-14" in repr(vars(auth)) and day_key not in repr(vars(auth))
    auth.clear_key_cache()
    assert auth.cached_key_date is None
    assert "s3cr3t-key" not in repr(auth) and "sts-token" not in repr(auth)
