"""Each vendor's envelopes to typed errors, and its response parsing (pure functions, no sockets)."""

from __future__ import annotations

import base64
import math
import struct

import httpx
import pytest

from cn_embeddings import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    Item,
    RateLimitError,
    ServerError,
)
from cn_embeddings.vendors.ark import ArkProtocol, decode_base64_floats, reduce_dimensions
from cn_embeddings.vendors.qianfan import QianfanProtocol
from cn_embeddings.vendors.tencent import TencentProtocol

TEXT = [Item(text="a")]


def tencent_error(code):
    return httpx.Response(200, json={"Response": {"Error": {"Code": code, "Message": "m"}, "RequestId": "rid-1"}})


@pytest.mark.parametrize(
    "code,cls,retryable",
    [
        ("AuthFailure.SignatureFailure", AuthenticationError, False),
        ("AuthFailure.SecretIdNotFound", AuthenticationError, False),
        ("UnauthorizedOperation", AuthenticationError, False),
        ("RequestLimitExceeded", RateLimitError, True),
        ("RequestLimitExceeded.UinLimitExceeded", RateLimitError, True),
        ("RequestLimitExceeded.IPLimitExceeded", RateLimitError, True),
        ("LimitExceeded", RateLimitError, False),
        ("InternalError", ServerError, True),
        ("InvalidParameter", BadRequestError, False),
        ("InvalidParameterValue", BadRequestError, False),
        ("ResourceNotFound", BadRequestError, False),
    ],
)
def test_tencent_http200_errors(code, cls, retryable):
    with pytest.raises(cls) as info:
        TencentProtocol(model="bge-m3").parse_response(tencent_error(code), TEXT)
    err = info.value
    assert (err.vendor, err.code, err.request_id, err.status_code, err.retryable) == (
        "tencent",
        code,
        "rid-1",
        200,
        retryable,
    )


def test_tencent_signature_expire_says_the_clock_is_off():
    with pytest.raises(AuthenticationError, match="clock"):
        TencentProtocol(model="bge-m3").parse_response(tencent_error("AuthFailure.SignatureExpire"), TEXT)


def test_tencent_charset_content_type_error_is_not_missed():
    response = httpx.Response(
        200,
        headers={"Content-Type": "application/json; charset=utf-8"},
        content=b'{"Response":{"Error":{"Code":"InvalidParameter","Message":"x"},"RequestId":"r"}}',
    )
    with pytest.raises(BadRequestError):
        TencentProtocol(model="bge-m3").parse_response(response, TEXT)


def test_tencent_gateway_502_is_retryable_server_error():
    with pytest.raises(ServerError) as info:
        TencentProtocol(model="bge-m3").parse_response(httpx.Response(502, content=b"<html>bad gateway</html>"), TEXT)
    assert info.value.retryable and info.value.status_code == 502


def test_tencent_multimodal_reassembles_texts_and_images_in_item_order():
    protocol = TencentProtocol(model="WeCLIPv2-Base")
    from cn_embeddings import Media

    img = Media(kind="image", url="https://x/a.jpg")
    items = [Item(image=img), Item(text="t0"), Item(image=img), Item(text="t1")]
    body = {
        "Response": {
            "RequestId": "r",
            "Usage": {"TotalTokens": 4, "TotalImages": 2},
            "Data": {
                "TextEmbeddings": [{"Embedding": [0.0, 1.0], "Index": 1}, {"Embedding": [0.0, 0.5], "Index": 0}],
                "ImageEmbeddings": [{"Embedding": [1.0, 0.0], "Index": 0}, {"Embedding": [0.5, 0.0], "Index": 1}],
            },
        }
    }
    result = protocol.parse_response(httpx.Response(200, json=body), items)
    assert result.vectors == [[1.0, 0.0], [0.0, 0.5], [0.5, 0.0], [0.0, 1.0]]
    assert (result.usage.total_tokens, result.usage.images) == (4, 2)


@pytest.mark.parametrize(
    "status,code,cls,retryable",
    [
        (400, "malformed_json", BadRequestError, False),
        (400, "characters_too_long", BadRequestError, False),
        (401, "invalid_iam_token", AuthenticationError, False),
        (403, "no_parameter_permission", AuthenticationError, False),
        (429, "rpm_rate_limit_exceeded", RateLimitError, True),
        (429, "tpm_rate_limit_exceeded", RateLimitError, True),
        (500, "internal_error", ServerError, True),
        (503, "dispatch_internal_error", ServerError, True),
    ],
)
def test_qianfan_error_envelopes(status, code, cls, retryable):
    response = httpx.Response(status, json={"error": {"code": code, "message": "msg", "type": "t"}, "id": "as-1"})
    with pytest.raises(cls) as info:
        QianfanProtocol().parse_response(response, TEXT)
    err = info.value
    assert (err.vendor, err.code, err.status_code, err.request_id, err.retryable) == (
        "qianfan",
        code,
        status,
        "as-1",
        retryable,
    )


@pytest.mark.parametrize(
    "status,code,cls,retryable",
    [
        (400, "InvalidParameter", BadRequestError, False),
        (400, "InputTextRiskDetection", BadRequestError, False),
        (401, "AuthenticationError", AuthenticationError, False),
        (403, "AccountOverdueError", AuthenticationError, False),
        (404, "InvalidEndpointOrModel.NotFound", BadRequestError, False),
        (429, "RateLimitExceeded.EndpointRPMExceeded", RateLimitError, True),
        (429, "ServerOverloaded", RateLimitError, True),
        (429, "QuotaExceeded", RateLimitError, False),
        (429, "SetLimitExceeded", RateLimitError, False),
        (500, "InternalServiceError", ServerError, True),
    ],
)
def test_ark_error_envelopes(status, code, cls, retryable):
    response = httpx.Response(
        status, json={"error": {"code": code, "message": "boom Request ID: 0217abc", "param": "", "type": "BadRequest"}}
    )
    with pytest.raises(cls) as info:
        ArkProtocol().parse_response(response, TEXT)
    err = info.value
    assert (err.vendor, err.code, err.status_code, err.request_id, err.retryable) == (
        "ark",
        code,
        status,
        "0217abc",
        retryable,
    )


def test_x_should_retry_and_retry_after_headers():
    response = httpx.Response(
        400,
        headers={"x-should-retry": "true", "retry-after": "2.5"},
        json={"error": {"code": "InvalidParameter", "message": "m"}},
    )
    with pytest.raises(APIError) as info:
        ArkProtocol().parse_response(response, TEXT)
    assert info.value.retryable and info.value.retry_after == 2.5
    response = httpx.Response(503, headers={"x-should-retry": "false"}, json={"error": {"code": "X", "message": "m"}})
    with pytest.raises(ServerError) as info:
        ArkProtocol().parse_response(response, TEXT)
    assert not info.value.retryable


def floats_b64(values):
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def test_ark_base64_decodes_little_endian_float32():
    values = [0.5, -1.25, 3.0, 1e-3]
    decoded = decode_base64_floats(floats_b64(values), "e")
    assert decoded == pytest.approx(values, rel=1e-6)
    assert struct.pack("<4f", *decoded) == base64.b64decode(floats_b64(values))


def test_ark_base64_decoding_matches_numpy_frombuffer_as_openai_does():
    import numpy as np

    payload = floats_b64([float(i) / 7 for i in range(2048)])
    assert decode_base64_floats(payload, "e") == np.frombuffer(base64.b64decode(payload), dtype="<f4").tolist()


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"abc").decode(), floats_b64([math.nan]), 7])
def test_ark_bad_base64_is_a_typed_error(bad):
    with pytest.raises(APIError):
        ArkProtocol().parse_response(httpx.Response(200, json={"data": {"embedding": bad}}), TEXT)


def test_ark_multimodal_single_object_and_sparse_list():
    protocol = ArkProtocol(sparse=True, encoding_format="float")
    body = {
        "data": {"embedding": [0.1] * 4, "sparse_embedding": [{"index": 1, "value": 0.5}, {"index": 13, "value": 0.2}]},
        "usage": {
            "prompt_tokens": 9,
            "total_tokens": 9,
            "prompt_tokens_details": {"text_tokens": 9, "image_tokens": 0},
        },
    }
    result = protocol.parse_response(httpx.Response(200, json=body), TEXT)
    assert result.vectors == [[0.1] * 4] and result.sparse == [{1: 0.5, 13: 0.2}]
    assert (result.usage.total_tokens, result.usage.text_tokens) == (9, 9)


def test_ark_old_version_reduces_dimensions_client_side():
    protocol = ArkProtocol(model="doubao-embedding-vision-250328", dimensions=1024, encoding_format="float")
    assert "dimensions" not in protocol.body(TEXT)
    vector = protocol.parse_response(
        httpx.Response(200, json={"data": {"embedding": [3.0, 4.0] + [0.0] * 3070}}), TEXT
    ).vectors[0]
    assert len(vector) == 1024 and vector[:2] == pytest.approx([0.6, 0.8])
    assert reduce_dimensions([3.0, 4.0, 12.0], 2) == pytest.approx([0.6, 0.8])
    new = ArkProtocol(model="doubao-embedding-vision-250615", dimensions=1024)
    assert new.body(TEXT)["dimensions"] == 1024
    assert ArkProtocol(model="ep-20250101-abc", dimensions=1024).body(TEXT)["dimensions"] == 1024


@pytest.mark.parametrize("dims", [512, 0, 3072])
def test_ark_bad_dimensions(dims):
    with pytest.raises(ConfigurationError, match="dimensions"):
        ArkProtocol(dimensions=dims)


def test_ark_endpoint_routing_by_name_and_override():
    assert ArkProtocol(model="doubao-embedding-vision-250615").url.endswith("/embeddings/multimodal")
    assert ArkProtocol(model="doubao-embedding-text-240715").url.endswith("/api/v3/embeddings")
    assert ArkProtocol(model="ep-2025").url.endswith("/embeddings/multimodal")
    assert ArkProtocol(model="ep-2025", api="text").url.endswith("/api/v3/embeddings")
    with pytest.raises(ConfigurationError, match="unknown Ark model"):
        ArkProtocol(model="gpt-embedding")


def test_ark_omits_unset_optional_fields():
    assert ArkProtocol().body(TEXT) == {
        "model": "doubao-embedding-vision-251215",
        "input": [{"type": "text", "text": "a"}],
        "encoding_format": "base64",
    }


@pytest.mark.parametrize(
    "entries,expected",
    [
        ([{"embedding": [1.0], "index": 0}], 2),  # too few
        ([{"embedding": [1.0], "index": 0}, {"embedding": [1.0], "index": 0}], 2),  # duplicate index
        ([{"embedding": [1.0], "index": 0}, {"embedding": [1.0, 2.0], "index": 1}], 2),  # ragged
        ([{"embedding": [], "index": 0}], 1),  # empty vector
        ([{"embedding": [True], "index": 0}], 1),  # bool is not a number
    ],
)
def test_qianfan_wrong_shapes_are_typed_errors(entries, expected):
    items = [Item(text="a")] * expected
    with pytest.raises(APIError, match="malformed|expected|twice|lengths|list|finite"):
        QianfanProtocol().parse_response(httpx.Response(200, json={"data": entries}), items)


def test_qianfan_sorts_by_index():
    body = {
        "data": [{"embedding": [2.0], "index": 1}, {"embedding": [1.0], "index": 0}],
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }
    result = QianfanProtocol().parse_response(httpx.Response(200, json=body), [Item(text="a"), Item(text="b")])
    assert result.vectors == [[1.0], [2.0]] and result.usage.total_tokens == 3
