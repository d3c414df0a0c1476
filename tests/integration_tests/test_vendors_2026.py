"""The vendors as they are at the end of 2026: Ark's default model, HEIC/HEIF images, client-side
dimensions that check the answer, extra request fields."""

from __future__ import annotations

import json

import httpx
import pytest

from cn_embeddings import APIError, ArkClient, ConfigurationError, InvalidInputError
from cn_embeddings._inputs import sniff_format
from langchain_cn_embeddings import ArkEmbeddings
from llama_index_cn_embeddings import QianfanEmbedding
from tests._servers import credentials


def _box(kind: bytes, content: bytes) -> bytes:
    return (8 + len(content)).to_bytes(4, "big") + kind + content


# The boxes every HEIF image has (ISO/IEC 23008-12): a brand, then meta with the item information
# and locations, then the coded data (not a decodable picture: no vendor decodes in the emulator)
HEIC = (
    _box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic")
    + _box(b"meta", b"\x00" * 4 + _box(b"hdlr", b"\x00" * 24) + _box(b"iinf", b"\x00" * 6) + _box(b"iloc", b"\x00" * 8))
    + _box(b"mdat", b"\x00" * 64)
)


def test_ark_defaults_to_the_model_new_accounts_get(emu):
    client = emu.client("ark")
    assert client.protocol.model == "doubao-embedding-vision-251215"
    assert len(client.embed_texts(["天很蓝"])[0]) == 2048
    assert emu.seen[-1].body["model"] == "doubao-embedding-vision-251215"


@pytest.mark.parametrize(
    "data,fmt",
    [
        (HEIC, "heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00", "heif"),
        (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00", "avif"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00", "mp4"),
    ],
)
def test_heif_brands_are_images_not_videos(data, fmt):
    assert sniff_format(data) == fmt


def test_heic_goes_to_ark_as_a_heic_data_uri_and_is_refused_by_name_elsewhere(emu):
    emu.client("ark").embed_images([HEIC])
    part = next(p for p in emu.seen[-1].body["input"] if p["type"] == "image_url")
    assert part["image_url"]["url"].startswith("data:image/heic;base64,")
    with pytest.raises(InvalidInputError, match="format heic is not one of"):
        emu.client("qianfan", "gme-qwen2-vl-2b-instruct").embed_images([HEIC])


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",  # the label and nothing else: 12 bytes of it
        HEIC[:-30],  # cut short
        _box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic") + _box(b"mdat", b"\x00" * 64),  # no item information
    ],
)
def test_a_heic_label_without_an_image_is_refused_before_the_wire(emu, data):
    with pytest.raises(InvalidInputError, match="labelled heic but holds no whole HEIF image") as refused:
        emu.client("ark").embed_images([data])
    assert refused.value.rule == "image-corrupt" and emu.requests == 0


def test_client_side_dimensions_refuse_a_shorter_answer_without_retrying():
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(
            200,
            json={
                "data": {"embedding": [0.1] * 300, "object": "embedding"},
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    client = ArkClient(
        "doubao-embedding-vision-241215",
        api_key="k",
        dimensions=1024,
        encoding_format="float",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        requests_per_second=0,
    )
    assert client.protocol.client_side
    with pytest.raises(APIError, match="asked for 1024 dimensions .* only 300") as caught:
        client.embed_texts(["x"])
    assert caught.value.code == "malformed_response" and len(sent) == 1, "not retried"


def test_extra_body_fields_reach_the_vendor_and_cannot_override_ours(emu):
    client = emu.client("qianfan", extra_body={"user": "u-1", "new_field": {"a": [1, 2]}})
    client.embed_texts(["你好"])
    body = emu.seen[-1].body
    assert body["new_field"] == {"a": [1, 2]} and body["user"] == "u-1" and body["input"] == ["你好"]
    emu.reset()
    with pytest.raises(ConfigurationError, match="extra_body sets 'input' .*'model' .*which the client sets"):
        emu.client("qianfan", extra_body={"model": "x", "input": ["y"]})  # refused when built, not at the call
    assert emu.requests == 0
    tencent = emu.client("tencent", extra_body={"Future": 1})
    tencent.embed_texts(["a"])  # TC3 signs the merged body
    assert emu.seen[-1].body["Future"] == 1 and emu.seen[-1].ok


@pytest.mark.parametrize(
    ("vendor", "extra", "named"),
    [
        ("qianfan", {"Model": "x"}, "'Model' (the client's 'model')"),  # a case variant
        ("tencent", {"modelname": "x"}, "'modelname' (the client's 'ModelName')"),
        ("qianfan", {"weight": float("nan")}, "extra_body['weight'] is not a JSON value"),
        ("ark", {"when": __import__("datetime").date(2026, 1, 1)}, "extra_body['when'] is not a JSON value"),
    ],
)
def test_extra_body_is_checked_when_the_client_is_built(emu, vendor, extra, named):
    """Each was refused only at the first call (a clash, reported as a request failure), sent as
    the invalid token NaN, or raised an untyped TypeError that also stalled the quota."""
    with pytest.raises(ConfigurationError) as refused:
        emu.client(vendor, extra_body=extra)
    assert named in str(refused.value)
    with pytest.raises(ConfigurationError):
        emu.reranker("qianfan", extra_body={"Query": "x"})
    assert emu.requests == 0


def test_model_kwargs_read_back_what_was_given(emu):
    given = {"user": "u-1", "nested": {"a": [1, 2]}}
    assert ArkEmbeddings(**credentials("ark"), model_kwargs=given).model_kwargs == given


def test_extra_body_under_each_frameworks_name(emu):
    ArkEmbeddings(**credentials("ark"), model_kwargs={"future": True}).embed_query("x")
    assert emu.seen[-1].body["future"] is True
    QianfanEmbedding(**credentials("qianfan"), additional_kwargs={"future": 2}).get_text_embedding("x")
    assert emu.seen[-1].body["future"] == 2


def test_extra_body_from_the_command_line(emulator_process, tmp_path):  # noqa: F811
    from tests.integration_tests.test_cli import run

    out = tmp_path / "out.jsonl"
    result = run(
        [
            "embed",
            "--provider",
            "qianfan",
            "--text",
            "你好",
            "--output",
            str(out),
            "--extra-body",
            "user: u-7",
            "--extra-body",
            "future: [1, 2]",
        ],
        emulator_process,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text().splitlines()[0])["vector"]


from tests.integration_tests.test_cli import emulator_process  # noqa: E402, F401 - a fixture
