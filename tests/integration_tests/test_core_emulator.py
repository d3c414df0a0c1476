"""The core clients against the emulator on 127.0.0.1: real sockets, real signatures."""

from __future__ import annotations

import asyncio

import pytest

from cn_embeddings import AuthenticationError, RateLimitError
from cn_embeddings.testing import Credentials, Emulator, Faults
from tests.conftest import data_uri, png_bytes

CASES = [
    ("tencent", "WeCLIPv2-Base"),
    ("tencent", "bge-m3"),
    ("qianfan", "embedding-v1"),
    ("qianfan", "tao-8k"),
    ("qianfan", "gme-qwen2-vl-2b-instruct"),
    ("ark", "doubao-embedding-vision-250615"),
    ("ark", "doubao-embedding-text-240715"),
]


@pytest.mark.parametrize("vendor,model", CASES)
def test_texts_sync_and_async_agree_and_are_deterministic(emu, vendor, model):
    client = emu.client(vendor, model, requests_per_second=0)
    texts = [f"文档 {i} about topic {i % 5}" for i in range(23)]
    vectors = client.embed_texts(texts)
    assert len(vectors) == 23 and len({len(v) for v in vectors}) == 1
    assert asyncio.run(client.aembed_texts(texts)) == vectors
    assert vectors[3] != vectors[4]
    assert all(s.status == 200 and s.ok for s in emu.seen)


def test_tencent_images_from_every_source_share_requests_with_texts(emu, images):
    client = emu.client("tencent", "WeCLIPv2-Large", requests_per_second=0)
    raw = images[0].read_bytes()
    inputs = [
        {"image": images[0]},
        "red hat",
        {"image": raw},
        {"image": data_uri(raw)},
        {"image": "https://example.test/a.jpg"},
        "white scarf",
    ]
    vectors = client.embed(inputs).vectors
    assert vectors[0] == vectors[2] == vectors[3] and vectors[0] != vectors[4]
    bodies = [s.body for s in emu.seen]
    assert not any("ImageData" in b and "ImageUrl" in b for b in bodies)  # never mixed
    assert sum(len(b.get("Texts", [])) for b in bodies) == 2


def test_tencent_batches_at_10_texts_and_8_images(emu):
    client = emu.client("tencent", "WeCLIPv2-Base", requests_per_second=0)
    client.embed([f"text {i}" for i in range(25)] + [{"image": png_bytes(color=(i, 0, 0))} for i in range(17)])
    shapes = [(len(s.body.get("Texts", [])), len(s.body.get("ImageData", []))) for s in emu.seen]
    assert all(t <= 10 and i <= 8 for t, i in shapes) and sum(t for t, _ in shapes) == 25
    assert sum(i for _, i in shapes) == 17


def test_tencent_session_token_is_checked():
    with Emulator(credentials=Credentials(session_token="sts-tok")) as emu:
        assert emu.client("tencent").embed_texts(["a"])
        from cn_embeddings import TencentCloudClient

        bad = TencentCloudClient(
            secret_id=emu.credentials.secret_id,
            secret_key=emu.credentials.secret_key,
            token="wrong",
            base_url=emu.tencent_url,
        )
        with pytest.raises(AuthenticationError, match="TokenFailure"):
            bad.embed_texts(["a"])


def test_wrong_keys_are_rejected_by_each_vendor(emu):
    from cn_embeddings import ArkClient, QianfanClient, TencentCloudClient

    clients = [
        TencentCloudClient(secret_id=emu.credentials.secret_id, secret_key="wrong", base_url=emu.url),
        QianfanClient(api_key="wrong", base_url=emu.qianfan_url),
        ArkClient(api_key="wrong", base_url=emu.ark_url),
    ]
    for client in clients:
        with pytest.raises(AuthenticationError):
            client.embed_texts(["a"])
    assert emu.requests == 3  # never retried


def test_clock_skew_is_explained(emu):
    client = emu.client("tencent")
    client.auth.clock = lambda: 1_000_000_000
    with pytest.raises(AuthenticationError, match="clock is off"):
        client.embed_texts(["a"])


def test_ark_fused_item_sparse_dimensions_and_float_equals_base64(emu, images):
    b64 = emu.client("ark", dimensions=1024)
    flt = emu.client("ark", dimensions=1024, encoding_format="float")
    item = {"text": "red square", "image": images[0]}
    assert b64.embed([item]).vectors == flt.embed([item]).vectors
    assert len(b64.embed([item]).vectors[0]) == 1024
    fused, text_only = b64.embed_texts(["red square"])[0], b64.embed([item]).vectors[0]
    assert fused != text_only
    sparse = emu.client("ark", sparse=True).embed(["稀疏 向量"])
    assert sparse.sparse and all(isinstance(k, int) for k in sparse.sparse[0])
    usage = b64.embed([item]).usage
    assert usage.image_tokens > 0 and usage.text_tokens > 0


def test_qianfan_gme_fuses_text_and_image(emu, images):
    client = emu.client("qianfan", "gme-qwen2-vl-2b-instruct")
    pair, image = client.embed([{"text": "红色", "image": images[0]}, {"image": images[0]}]).vectors
    assert pair != image and len(pair) == 1536
    assert emu.seen[0].body["input"][0]["image"].startswith("data:image/png;base64,")


def test_emulator_quota_and_limiter_keep_tencent_free_of_rate_limits(emu):
    emu.faults = Faults(qps=10)
    client = emu.client("tencent", "WeCLIPv2-Base")  # default limiter: 10 requests/s
    client.embed_texts([f"t{i}" for i in range(150)])  # 15 requests
    assert all(s.fault is None for s in emu.seen)


def test_emulator_quota_without_limiter_throttles(emu):
    emu.faults = Faults(qps=2)
    client = emu.client("qianfan", batch_size=1, requests_per_second=0, max_retries=0, max_concurrency=8)
    with pytest.raises(RateLimitError):
        client.embed_texts([f"t{i}" for i in range(30)])
