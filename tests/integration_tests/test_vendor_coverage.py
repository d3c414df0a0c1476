"""Vendor facts as documented today (docs/wire-reference.md §6): Ark video tuning and image limits,
Qianfan Qwen3 models, token limits counted offline, images fitted with Pillow, PIL inputs."""

from __future__ import annotations

import io
import logging
import random

import httpx
import pytest
from PIL import Image

from cn_embeddings import ConfigurationError, InvalidInputError
from cn_embeddings._tokens import bert_bounds, qwen_count
from tests.conftest import png_bytes

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


# -- Ark video tuning --------------------------------------------------------------------------------


def test_video_fields_go_inside_video_url_with_client_defaults(emu):
    client = emu.client("ark", video_options={"max_video_tokens": 20480, "fps": 1})
    client.embed([{"video": MP4, "fps": 0.5, "min_frames": 8}])
    part = emu.seen[-1].body["input"][0]
    assert part["type"] == "video_url"
    assert {k: v for k, v in part["video_url"].items() if k != "url"} == {
        "fps": 0.5,
        "max_video_tokens": 20480,
        "min_frames": 8,
    }
    assert part["video_url"]["url"].startswith("data:video/mp4;base64,")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"fps": 6}, r"fps must be a number in \[0.2, 5\]"),
        ({"fps": 0.1}, "fps must be"),
        ({"max_video_tokens": 1000}, r"max_video_tokens must be an integer in \[10240, 204800\]"),
        ({"min_frame_tokens": 16.5}, "min_frame_tokens must be an integer"),
        ({"min_frame_tokens": 100, "max_frame_tokens": 90}, "max_frame_tokens must be"),
        ({"min_frame_tokens": 120, "max_frame_tokens": 130}, None),
        ({"max_frame_tokens": 200, "min_frame_tokens": 128}, None),
        ({"min_frames": 20}, r"min_frames must be an integer in \[5, 16\]"),
        ({"fps": "fast"}, "fps must be a number"),
    ],
)
def test_video_fields_out_of_range_are_refused_before_any_request(emu, fields, message):
    client = emu.client("ark")
    if message is None:
        client.embed([{"video": MP4, **fields}])
        assert emu.requests == 1
        return
    with pytest.raises(InvalidInputError, match=message) as caught:
        client.embed(["ok", {"video": MP4, **fields}])
    assert caught.value.index == 1 and emu.requests == 0


def test_video_defaults_and_misplaced_fields_are_refused(emu):
    with pytest.raises(ConfigurationError, match="video_options: fps"):
        emu.client("ark", video_options={"fps": 9})
    with pytest.raises(ConfigurationError, match="unknown video field"):
        emu.client("ark", video_options={"speed": 1})
    with pytest.raises(InvalidInputError, match="only go with a video"):
        emu.client("ark").embed([{"text": "x", "fps": 1}])


def test_the_emulator_refuses_bad_video_fields_itself(emu):
    body = {
        "model": "doubao-embedding-vision-250615",
        "input": [{"type": "video_url", "video_url": {"url": "https://example.com/v.mp4", "fps": 9}}],
    }
    answer = httpx.post(
        emu.ark_url + "/embeddings/multimodal",
        json=body,
        headers={"Authorization": f"Bearer {emu.credentials.ark_api_key}"},
    )
    assert answer.status_code == 400 and "fps" in answer.json()["error"]["message"]


# -- Qianfan Qwen3 and token limits --------------------------------------------------------------------


@pytest.mark.parametrize(
    "model, dim", [("qwen3-embedding-0.6b", 1024), ("qwen3-embedding-4b", 2560), ("qwen3-embedding-8b", 4096)]
)
def test_qianfan_qwen3_models(emu, model, dim):
    client = emu.client("qianfan", model)
    assert client.batch_size == 16
    vectors = client.embed_texts([f"文本 {i}" for i in range(20)])
    assert len(vectors) == 20 and {len(v) for v in vectors} == {dim} and emu.requests == 2


def _words(n: int) -> str:
    rng = random.Random(n)
    return " ".join("".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(7)) for _ in range(n))


def test_qwen3_token_limit_is_counted_exactly_and_refused_with_zero_requests(emu):
    long_text = _words(3000)
    count = qwen_count(long_text)
    assert count is not None and count > 8192
    client = emu.client("qianfan", "qwen3-embedding-0.6b")
    with pytest.raises(InvalidInputError, match=f"text has {count} tokens; qwen3-embedding-0.6b accepts at most 8192"):
        client.embed_texts(["short", long_text])
    assert emu.requests == 0
    cut = emu.client("qianfan", "qwen3-embedding-0.6b", truncate=True)
    cut.embed_texts([long_text])
    sent = emu.seen[-1].body["input"][0]
    assert long_text.startswith(sent) and qwen_count(sent) <= 8192 and qwen_count(sent) >= 8190


def test_without_the_tokenizer_the_character_rules_hold(emu, monkeypatch):
    from cn_embeddings import _tokens

    monkeypatch.setattr(_tokens, "_qwen", lambda: None)
    emu.client("qianfan", "qwen3-embedding-0.6b").embed_texts([_words(200)])
    assert emu.requests == 1


def test_wordpiece_bounds_refuse_only_what_surely_breaks_the_limit(emu):
    client = emu.client("qianfan", "bge-large-zh")
    chinese = "天" * 600  # 600 characters, 602 tokens for sure
    assert bert_bounds(chinese) == (602, 602)
    with pytest.raises(InvalidInputError, match="at least 602 tokens; bge-large-zh accepts at most 512"):
        client.embed_texts([chinese])
    assert emu.requests == 0
    maybe = " ".join(["internationalization"] * 90)  # 92 to 1802 tokens: may fit, so it is sent
    client.embed_texts([maybe])
    assert emu.requests == 1
    cut = emu.client("qianfan", "bge-large-zh", truncate=True)
    cut.embed_texts([chinese])
    assert emu.seen[-1].body["input"][0] == "天" * 510


# -- images: limits, fitting, PIL inputs ---------------------------------------------------------------


def noise_png(width: int, height: int) -> bytes:
    rng = random.Random(width * height)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_3mb_image_is_refused_then_sent_fitted(emu, caplog):
    big = noise_png(1000, 1000)
    assert len(big) > 3_000_000
    with pytest.raises(InvalidInputError, match="at most 1048576 bytes.*fit_images=True") as caught:
        emu.client("tencent").embed_images([big])
    assert caught.value.rule == "image-size" and emu.requests == 0
    client = emu.client("tencent", fit_images=True)
    with caplog.at_level(logging.INFO, logger="cn_embeddings"):
        result = client.embed([{"image": big}])
    assert len(result.vectors) == 1 and result.usage.images_fitted == 1 and client.usage.images_fitted == 1
    sent = emu.seen[-1].body["ImageData"][0] if "ImageData" in emu.seen[-1].body else None
    assert sent is not None and len(sent) * 3 // 4 <= 1024 * 1024
    assert any("image fitted for WeCLIPv2-Base: 1000x1000 png" in r.getMessage() for r in caplog.records)


def test_ark_pixel_and_side_limits(emu):
    tiny = png_bytes(10, 10)
    with pytest.raises(InvalidInputError, match="each side at least 15 px"):
        emu.client("ark").embed_images([tiny])
    huge = io.BytesIO()
    Image.new("L", (6100, 6000), 128).save(huge, format="PNG")
    with pytest.raises(InvalidInputError, match="36600000 pixels; at most 35999999"):
        emu.client("ark").embed_images([huge.getvalue()])
    assert emu.requests == 0
    fitted = emu.client("ark", fit_images=True)
    fitted.embed_images([tiny, huge.getvalue()])
    assert fitted.usage.images_fitted == 2 and emu.requests == 2


def test_qianfan_gme_side_limit_and_a_truncated_image(emu):
    wide = io.BytesIO()
    Image.new("RGB", (7000, 20), (1, 2, 3)).save(wide, format="PNG")
    with pytest.raises(InvalidInputError, match="each side at most 5999 px"):
        emu.client("qianfan", "gme-qwen2-vl-2b-instruct").embed_images([wide.getvalue()])
    emu.client("qianfan", "gme-qwen2-vl-2b-instruct", fit_images=True).embed_images([wide.getvalue()])
    with pytest.raises(InvalidInputError, match="not a whole, readable image") as caught:
        emu.client("qianfan", "gme-qwen2-vl-2b-instruct").embed_images([png_bytes(32, 32)[:-30]])
    assert caught.value.rule == "image-corrupt" and emu.requests == 1


def test_pil_images_everywhere(emu):
    from langchain_cn_embeddings import ArkEmbeddings
    from llama_index_cn_embeddings import ArkEmbedding

    image = Image.new("RGB", (32, 32), (200, 30, 30))
    as_png = io.BytesIO()
    image.save(as_png, format="PNG")
    expected = emu.client("ark").embed_images([as_png.getvalue()])[0]
    assert emu.client("ark").embed_images([image])[0] == expected
    assert emu.client("ark").embed([{"text": "红", "image": image}]).vectors[0] != expected
    assert ArkEmbeddings(**emu.settings("ark")).embed_image([image])[0] == expected
    assert ArkEmbeddings(**emu.settings("ark")).embed_multimodal([{"image": image}])[0] == expected
    assert ArkEmbedding(**emu.settings("ark")).get_image_embedding(image) == expected
