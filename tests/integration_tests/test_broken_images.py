"""Broken image data never reaches the wire, and one picture makes one request however it is given."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image

from cn_embeddings import InvalidInputError


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_garbage_pixels() -> bytes:
    """Every chunk and checksum valid; the compressed pixel data is not a zlib stream."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", bytes(range(256)) * 4) + _chunk(b"IEND", b"")


def gif_with_zeroed_data() -> bytes:
    out = io.BytesIO()
    Image.new("P", (32, 32), 3).save(out, "GIF")
    data = bytearray(out.getvalue())
    start = data.index(b",")  # the image descriptor; its LZW data follows
    data[start + 11 : -1] = b"\x00" * (len(data) - start - 12)
    return bytes(data)


def bmp_cut_in_half() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 10)).save(out, "BMP")
    return out.getvalue()[: len(out.getvalue()) // 2]


@pytest.mark.parametrize("vendor", ["tencent", "qianfan", "ark"])
@pytest.mark.parametrize("make", [png_with_garbage_pixels, gif_with_zeroed_data, bmp_cut_in_half])
def test_broken_pixels_are_refused_typed_before_the_wire(emu, vendor, make):
    """They were sent to Ark and Qianfan unchanged, and raised an untyped OSError where Tencent fits."""
    model = {"tencent": "WeCLIPv2-Base", "qianfan": "gme-qwen2-vl-2b-instruct", "ark": None}[vendor]
    with (
        emu.client(vendor, model, fit_images=vendor == "tencent") as client,
        pytest.raises(InvalidInputError, match="not a whole, readable image|format gif is not one of") as refused,
    ):
        client.embed_images([make()])  # (Qianfan takes no GIF at all)
    assert refused.value.index == 0 and refused.value.rule in ("image-corrupt", "format") and emu.requests == 0


def _sent(emu) -> bytes:
    body = emu.seen[-1].body
    part = next(p for p in body["input"] if p.get("type") == "image_url")
    return base64.b64decode(part["image_url"]["url"].split(",", 1)[1])


def test_a_cmyk_jpeg_is_sent_as_a_pillow_image_of_it_would_be(emu, tmp_path):
    """A CMYK JPEG given as a path went to every vendor as CMYK, even with fit_images=True, while
    the same picture as a Pillow image went as RGB: two requests, two vectors."""
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (40, 30), (0, 200, 200, 0)).save(path, "JPEG")
    with emu.client("ark") as client:
        client.embed_images([path])
        from_path = _sent(emu)
        client.embed_images([path.read_bytes()])
        from_bytes = _sent(emu)
        with Image.open(path) as image:
            client.embed_images([image])
        from_pillow = _sent(emu)
    assert from_path == from_bytes == from_pillow
    assert Image.open(io.BytesIO(from_path)).mode == "RGB"
