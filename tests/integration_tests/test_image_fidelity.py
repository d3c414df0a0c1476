"""What the vendor receives is the picture the user meant: every Pillow mode converted, EXIF
orientation applied, aspect kept, decompression bombs refused before decoding."""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib

import pytest
from PIL import Image

from cn_embeddings import InvalidInputError


def sent_image(emu) -> Image.Image:
    """The image in the last request the emulator saw (Tencent: ImageData; Qianfan: a data URI per
    input; Ark: a data URI in the content parts)."""
    body = emu.seen[-1].body
    if "ImageData" in body:
        data = base64.b64decode(body["ImageData"][0])
    elif "image" in body["input"][0]:
        data = base64.b64decode(body["input"][0]["image"].split(",", 1)[1])
    else:
        part = next(p for p in body["input"] if p.get("type") == "image_url")
        data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


CONVERTED = {
    "1": "RGB",
    "L": "RGB",
    "P": "RGB",
    "RGB": "RGB",
    "RGBA": "RGBA",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
    "RGBX": "RGB",
    "LA": "RGBA",
    "La": "RGBA",
    "PA": "RGBA",
    "RGBa": "RGBA",
}


@pytest.mark.parametrize("mode", sorted(CONVERTED))
def test_every_pillow_mode_is_sent_as_rgb_or_rgba(emu, mode):
    image = (
        Image.new("RGB", (32, 24), (200, 40, 10)).convert(mode)
        if mode not in ("La", "RGBa", "PA")
        else Image.new("RGBA", (32, 24), (200, 40, 10, 255)).convert({"La": "LA", "RGBa": "RGBa", "PA": "PA"}[mode])
    )
    if mode == "La":
        image = image.convert("La")
    assert image.mode == mode
    emu.client("ark", requests_per_second=0).embed_images([image])
    got = sent_image(emu)
    assert got.format == "PNG" and got.mode == CONVERTED[mode] and got.size == (32, 24)


def test_a_cmyk_jpeg_from_disk_is_sent_as_an_rgb_jpeg(emu, tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(path, format="JPEG")
    with Image.open(path) as image:
        assert image.mode == "CMYK"
        emu.client("ark", requests_per_second=0).embed_images([image])
    got = sent_image(emu)
    assert got.format == "JPEG" and got.mode == "RGB"
    red, green, blue = got.getpixel((20, 15))
    assert red > 200 and green < 60 and blue < 60


@pytest.mark.parametrize("mode", ["I", "F", "I;16"])
def test_deep_modes_are_refused_by_name(emu, mode):
    with pytest.raises(InvalidInputError, match=f"image mode {mode} ") as caught:
        emu.client("ark").embed_images([png_in_memory("RGB"), Image.new(mode, (20, 20))])
    assert caught.value.index == 1 and caught.value.rule == "image-mode" and emu.requests == 0


def png_in_memory(mode: str) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (20, 20)).save(out, format="PNG")
    return out.getvalue()


def portrait_jpeg(width: int, height: int, noise: int) -> bytes:
    """A phone portrait: stored landscape, red on the left and blue on the right, tagged with EXIF
    orientation 6 (turn 90 degrees clockwise to show): shown upright, red is on top."""
    rng = random.Random(7)
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            (min(255, 220 + rng.randrange(noise)), rng.randrange(noise), rng.randrange(noise))
            if x < width // 2
            else (rng.randrange(noise), rng.randrange(noise), min(255, 220 + rng.randrange(noise)))
            for y in range(height)
            for x in range(width)
        ]
    )
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=100, exif=exif.tobytes())
    return out.getvalue()


def top_and_bottom(image: Image.Image) -> tuple[tuple[int, ...], tuple[int, ...]]:
    w, h = image.size
    return image.convert("RGB").getpixel((w // 2, h // 8)), image.convert("RGB").getpixel((w // 2, h * 7 // 8))


def test_a_phone_portrait_fitted_for_tencent_comes_out_upright(emu):
    photo = portrait_jpeg(1200, 700, 120)
    assert len(photo) > 1024 * 1024, "over Tencent's 1 MiB: it must be fitted"
    emu.client("tencent", fit_images=True, requests_per_second=0).embed_images([photo])
    got = sent_image(emu)
    assert got.size[1] > got.size[0], "shown as a portrait"
    assert got.getexif().get(0x0112, 1) == 1, "no orientation tag left for the vendor to ignore or apply again"
    top, bottom = top_and_bottom(got)
    assert top[0] > 150 and top[2] < 100, f"red on top, got {top}"
    assert bottom[2] > 150 and bottom[0] < 100, f"blue at the bottom, got {bottom}"


def test_fit_images_sends_a_tagged_image_upright_even_within_the_limits(emu):
    emu.client("ark", fit_images=True, requests_per_second=0).embed_images([portrait_jpeg(60, 40, 10)])
    got = sent_image(emu)
    assert got.size == (40, 60)
    top, bottom = top_and_bottom(got)
    assert top[0] > 150 and bottom[2] > 150


@pytest.mark.parametrize("size", [(6000, 3), (3, 6000)])
def test_no_fit_that_changes_the_aspect_ratio(emu, size):
    out = io.BytesIO()
    Image.new("RGB", size, (9, 9, 9)).save(out, format="PNG")
    with pytest.raises(
        InvalidInputError, match=r"no size with its aspect ratio meets .*at least 5 px.*at most 5999 px"
    ):
        emu.client("qianfan", "gme-qwen2-vl-2b-instruct", fit_images=True).embed_images([out.getvalue()])
    assert emu.requests == 0


@pytest.mark.parametrize(
    "vendor,model,size",
    [
        ("qianfan", "gme-qwen2-vl-2b-instruct", (7000, 20)),
        ("qianfan", "gme-qwen2-vl-2b-instruct", (3, 4)),
        ("ark", None, (6100, 6000)),
        ("ark", None, (9, 700)),
        ("ark", None, (14, 2000)),
    ],
)
def test_fits_keep_the_aspect_ratio_within_rounding(emu, vendor, model, size):
    out = io.BytesIO()
    Image.new("RGB", size, (9, 90, 9)).save(out, format="PNG")
    emu.client(vendor, model, fit_images=True, requests_per_second=0).embed_images([out.getvalue()])
    w, h = sent_image(emu).size
    assert (w, h) != size
    assert abs(w / h - size[0] / size[1]) <= (size[0] / size[1]) * (1 / min(w, h) + 1 / max(w, h)) + 1e-9


def bomb_png(side: int) -> bytes:
    """A real PNG of side x side RGBA pixels, all zero: a few hundred KB that decode to side**2 * 4 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + side * 4)
    parts = [packer.compress(row * 256) for _ in range(side // 256)]
    parts += [packer.compress(row * (side % 256)), packer.flush()]
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_it_is_decoded(emu):
    bomb = bomb_png(13_000)
    assert len(bomb) < 1_000_000
    with (
        pytest.raises(InvalidInputError, match="169000000 pixels; fitting decodes at most 72000000") as caught,
        pytest.warns(Image.DecompressionBombWarning),
    ):  # Pillow's own warning, on reading the header
        emu.client("ark", fit_images=True).embed_images([bomb])
    assert caught.value.rule == "image-pixels" and emu.requests == 0
