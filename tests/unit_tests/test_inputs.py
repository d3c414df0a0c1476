"""Input normalisation and per-vendor input rules, all raising before any request."""

from __future__ import annotations

import io

import httpx
import pytest

from cn_embeddings import ArkClient, InvalidInputError, QianfanClient, TencentCloudClient
from cn_embeddings._inputs import sniff_format, to_items, to_media
from tests.conftest import data_uri, png_bytes


def never(request):
    raise AssertionError("no request may be sent")


def mock(cls, model, **kw):
    creds = {"secret_id": "i", "secret_key": "k"} if cls is TencentCloudClient else {"api_key": "k"}
    return cls(model, **creds, http_client=httpx.Client(transport=httpx.MockTransport(never)), **kw)


@pytest.mark.parametrize(
    "data,fmt",
    [
        (png_bytes(), "png"),
        (b"\xff\xd8\xff\xe0rest", "jpeg"),
        (b"GIF89a...", "gif"),
        (b"BMxxxx", "bmp"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"\x00\x00\x00\x18ftypmp42", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  ", "mov"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
        (b"hello world", None),
    ],
)
def test_sniffing(data, fmt):
    assert sniff_format(data) == fmt


def test_every_image_source_gives_the_same_bytes(tmp_path):
    data = png_bytes()
    path = tmp_path / "a.png"
    path.write_bytes(data)
    for value in (str(path), path, data, bytearray(data), io.BytesIO(data), data_uri(data)):
        media = to_media(value, "image", 0)
        assert (media.data, media.format) == (data, "png")
    assert to_media("https://x.test/a.png", "image", 0).url == "https://x.test/a.png"


@pytest.mark.parametrize(
    "value,rule",
    [
        ("/no/such/file.png", "file-exists"),
        (".", "file-exists"),
        (b"", "non-empty"),
        (b"plain text", "format"),
        ("file:///etc/passwd", "url-scheme"),
        ("ftp://x/a.png", "url-scheme"),
        ("data:image/png,notbase64", "data-uri"),
        ("data:image/png;base64,@@@", "data-uri"),
        (42, "type"),
    ],
)
def test_bad_media(value, rule):
    with pytest.raises(InvalidInputError) as info:
        to_media(value, "image", 3)
    assert info.value.rule == rule and info.value.index == 3 and str(info.value).startswith("input 3:")


def test_text_file_named_png_and_truncated_image(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("just text")
    with pytest.raises(InvalidInputError, match="format"):
        to_media(fake, "image", 0)
    with pytest.raises(InvalidInputError, match="format"):
        to_media(png_bytes()[:5], "image", 0)


def test_mapping_keys_are_checked():
    with pytest.raises(InvalidInputError, match="unknown keys"):
        to_items([{"text": "a", "audio": "x"}])
    with pytest.raises(InvalidInputError, match="at least one"):
        to_items([{}])
    with pytest.raises(InvalidInputError, match="single str"):
        to_items("not a list")


def test_tencent_refuses_to_fuse_text_and_image():
    with pytest.raises(InvalidInputError, match="cannot fuse"):
        mock(TencentCloudClient, "WeCLIPv2-Base").embed([{"text": "a", "image": png_bytes()}])


def test_tencent_image_over_1mb():
    with pytest.raises(InvalidInputError, match="at most 1048576 bytes"):
        mock(TencentCloudClient, "WeCLIPv2-Base").embed_images([png_bytes(pad=1024 * 1024)])


def test_tencent_text_over_72_and_truncate():
    with pytest.raises(InvalidInputError, match="at most 72"):
        mock(TencentCloudClient, "WeCLIPv2-Base").embed_texts(["x" * 73])


def test_qianfan_video_and_unknown_format():
    with pytest.raises(InvalidInputError, match="cannot embed"):
        mock(QianfanClient, "gme-qwen2-vl-2b-instruct").embed([{"video": b"\x00\x00\x00\x18ftypmp42"}])
    with pytest.raises(InvalidInputError, match="format gif"):
        mock(QianfanClient, "gme-qwen2-vl-2b-instruct").embed_images([b"GIF89a" + b"\x00" * 20])


def test_ark_sparse_with_image_and_old_version_video():
    with pytest.raises(InvalidInputError, match="sparse"):
        mock(ArkClient, "doubao-embedding-vision-250615", sparse=True).embed([{"text": "a", "image": png_bytes()}])
    with pytest.raises(InvalidInputError, match="cannot embed video"):
        mock(ArkClient, "doubao-embedding-vision-250328").embed([{"video": b"\x00\x00\x00\x18ftypmp42"}])


def test_ark_text_limit_is_in_utf8_bytes():
    with pytest.raises(InvalidInputError, match="UTF-8 bytes"):
        mock(ArkClient, "doubao-embedding-text-240715").embed_texts(["中" * 40000])


def test_unknown_models_are_configuration_errors():
    from cn_embeddings import ConfigurationError

    for cls, model in ((TencentCloudClient, "WeCLIPv3"), (QianfanClient, "embedding-v9"), (ArkClient, "gpt-4")):
        with pytest.raises(ConfigurationError, match="unknown"):
            mock(cls, model)
    assert mock(QianfanClient, "my-custom-svc", api="text").protocol.api == "text"
