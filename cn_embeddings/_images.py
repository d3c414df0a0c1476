"""Image limits per vendor, checked before sending, and fitting images to them with Pillow.

Byte sizes are checked always. Pixel sizes need the image's header, read with
Pillow when it is installed (the ``[images]`` extra); Pillow also checks that
the file is whole. With ``fit_images=True`` an image that breaks a limit is
downscaled (or, below a minimum side, upscaled) and re-encoded until it fits,
and the change is logged; without it the error says that fitting would help.

A fit keeps the picture: the aspect ratio changes by rounding only (an image no
size can fit is refused, naming the rules), EXIF orientation is applied to the
pixels first, every Pillow mode is converted to RGB or RGBA (``_pil``), and no
more pixels are decoded than needed (``MAX_DECODE_PIXELS``).
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, replace
from typing import Any

from ._exceptions import InvalidInputError
from ._inputs import Media, sniff_format
from ._pil import flatten, from_pil, pillow, to_rgb_or_rgba, upright

__all__ = ["MAX_DECODE_PIXELS", "ImageLimits", "check_image"]

log = logging.getLogger("cn_embeddings")

FIT_HINT = "pass fit_images=True to resize it (needs Pillow: pip install 'cn-embeddings[images]')"


@dataclass(frozen=True)
class ImageLimits:
    """What a vendor accepts for one image; ``fit_pixels`` is a size above which the vendor gains
    nothing (Ark's per-image token cap), used only when fitting."""

    max_bytes: int | None = None
    max_pixels: int | None = None
    min_side: int | None = None
    max_side: int | None = None
    max_aspect: float | None = None
    fit_pixels: int | None = None


# Formats whose magic number Pillow always reads: bytes that start like one of them but that
# Pillow cannot identify are broken, not merely exotic.
PILLOW_READS = frozenset({"png", "jpeg", "bmp", "gif", "webp", "tiff", "ico"})


def _open(data: bytes, index: int, fmt: str | None) -> Any:
    """The image via Pillow (None without Pillow, or for a format it does not read); a truncated or
    corrupt file is refused. Beyond the structure and checksums, the pixels are decoded (a JPEG's
    are not: its end marker is checked, and it is decoded reduced when fitted), so a PNG with
    garbage in valid chunks, a GIF of zeroes or a BMP cut in half never reach the wire."""
    if fmt in ("heic", "heif"):
        _check_heif(data, index, fmt)
    image_module = pillow()
    if image_module is None:
        return None
    try:
        probe = image_module.open(io.BytesIO(data))
    except image_module.UnidentifiedImageError:
        if fmt in PILLOW_READS:
            raise InvalidInputError(
                f"image starts like a {fmt} file but is not a readable {fmt} image", index=index, rule="image-corrupt"
            ) from None
        return None  # a format Pillow does not read (heic...): the vendor's format list has the last word
    except Exception:  # noqa: BLE001
        probe = None
    try:
        if probe is None:
            raise ValueError("unreadable header")
        probe.verify()  # structure and checksums (PNG chunks, ...), without decoding the pixels
        if probe.format == "JPEG" and not data.rstrip(b"\0").endswith(b"\xff\xd9"):
            raise ValueError("no end-of-image marker: the file is cut short")  # verify() reads no JPEG body
        image = image_module.open(io.BytesIO(data))  # for a JPEG the header only: decoded if fitting
        if image.format != "JPEG" and image.size[0] * image.size[1] <= MAX_DECODE_PIXELS:
            image.load()
        return image
    except Exception as error:  # noqa: BLE001 - Pillow raises many kinds for a broken file
        raise InvalidInputError(
            f"image is not a whole, readable image ({type(error).__name__}: {error})", index=index, rule="image-corrupt"
        ) from None


def _check_heif(data: bytes, index: int, fmt: str) -> None:
    """A HEIF file (ISO/IEC 23008-12) holds an image: its top-level boxes run exactly to the end of
    the file, and its ``meta`` box has the item information and locations (``iinf``, ``iloc``)
    that every HEIF image needs. A brand label alone is not an image."""
    boxes = _boxes(data, 0, len(data))
    meta = next(((start, end) for kind, start, end in boxes or () if kind == b"meta"), None)
    inner = {kind for kind, _, _ in _boxes(data, meta[0] + 4, meta[1]) or ()} if meta else set()
    if not boxes or boxes[0][0] != b"ftyp" or not {b"iinf", b"iloc"} <= inner:
        raise InvalidInputError(
            f"image is labelled {fmt} but holds no whole HEIF image (its boxes are cut short or lack the image's "
            "item information)",
            index=index,
            rule="image-corrupt",
        )


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]] | None:
    """The ISO base media boxes between ``start`` and ``end`` as (type, content start, content end);
    None when one runs past ``end`` or is too short to be a box."""
    found = []
    at = start
    while at < end:
        if end - at < 8:
            return None
        size, kind, header = int.from_bytes(data[at : at + 4], "big"), data[at + 4 : at + 8], 8
        if size == 1:  # a 64-bit size follows
            if end - at < 16:
                return None
            size, header = int.from_bytes(data[at + 8 : at + 16], "big"), 16
        elif size == 0:  # to the end
            size = end - at
        if size < header or at + size > end:
            return None
        found.append((kind, at + header, at + size))
        at += size
    return found


def _problems(size: int, dims: tuple[int, int] | None, limits: ImageLimits) -> list[str]:
    found = []
    if limits.max_bytes is not None and size > limits.max_bytes:
        found.append(f"is {size} bytes; at most {limits.max_bytes} bytes")
    if dims is not None:
        w, h = dims
        if limits.max_pixels is not None and w * h > limits.max_pixels:
            found.append(f"has {w}x{h} = {w * h} pixels; at most {limits.max_pixels}")
        if limits.max_side is not None and max(w, h) > limits.max_side:
            found.append(f"is {w}x{h}; each side at most {limits.max_side} px")
        if limits.min_side is not None and min(w, h) < limits.min_side:
            found.append(f"is {w}x{h}; each side at least {limits.min_side} px")
    return found


# Fitting decodes at most this many pixels: twice the largest image any of the vendors takes
# (Ark's 36 MP; Qianfan's 5,999 px sides). A JPEG is decoded already reduced (draft: by 1/2, 1/4 or
# 1/8 while still at least the size sent), so only other formats reach it: a larger image (a
# decompression bomb: 13,000 x 13,000 pixels in a 656 KB PNG) is refused before its pixels are
# decoded, and a fit's peak memory stays under about 4 bytes per pixel of it.
MAX_DECODE_PIXELS = 72_000_000
# Colour models no vendor documents taking (a CMYK JPEG decodes to other colours elsewhere): re-encoded
# in RGB exactly as a Pillow image of the same file is, so a path, bytes and a Pillow image of one
# picture make one request
RECODED_MODES = frozenset({"CMYK", "YCbCr", "LAB", "HSV"})
# EXIF orientations that turn the picture a quarter turn (the stored width is the shown height)
QUARTER_TURNS = frozenset({5, 6, 7, 8})


def _orientation(image: Any) -> int:
    """The EXIF orientation from the header (never ``getexif()``: for a PNG whose EXIF may follow
    the pixels, that decodes the whole image)."""
    raw = image.info.get("exif")
    if not raw:
        return 1
    try:
        exif = pillow().Exif()
        exif.load(raw)
        value = exif.get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block: the pixels are as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def check_image(media: Media, limits: ImageLimits, index: int, model: str, fit: bool) -> Media:
    """``media`` if it is within ``limits``; fitted when ``fit``; else InvalidInputError.

    With ``fit``, an image whose EXIF orientation turns or mirrors it is also re-encoded upright,
    since a vendor may ignore the tag (without ``fit`` its bytes are sent as they are)."""
    if media.is_url or media.kind != "image" or media.data is None:
        return media
    data = media.data
    image = _open(data, index, media.format)
    if image is not None and image.mode in RECODED_MODES:  # as a Pillow image of it would be sent
        data = from_pil(image, index)
        media = replace(media, data=data, format=sniff_format(data) or media.format)
        image = _open(data, index, media.format)
    orientation = _orientation(image) if image is not None else 1
    dims = _upright_size(image, orientation) if image is not None else None
    if dims is not None:
        _check_aspect(dims, limits, index, model)
    problems = _problems(len(data), dims, limits)
    if not problems and not (fit and orientation != 1):
        return media
    if not fit or image is None:
        raise InvalidInputError(
            f"image {problems[0]} for {model}; {FIT_HINT}",
            index=index,
            rule="image-size" if "bytes" in problems[0] else "image-dimensions",
        )
    assert dims is not None
    fitted, size = _fit(image, dims, orientation, media, limits, index, model)
    log.info(
        "input %d: image fitted for %s: %dx%d %s, %d bytes -> %dx%d %s, %d bytes",
        index,
        model,
        dims[0],
        dims[1],
        media.format,
        len(data),
        *size,
        fitted.format,
        len(fitted.data or b""),
    )
    return fitted


def _upright_size(image: Any, orientation: int) -> tuple[int, int]:
    """(width, height) as the image is seen once its EXIF orientation is applied."""
    width, height = image.size
    return (height, width) if orientation in QUARTER_TURNS else (width, height)


def _check_aspect(dims: tuple[int, int], limits: ImageLimits, index: int, model: str) -> None:
    if limits.max_aspect is not None and max(dims) / max(min(dims), 1) > limits.max_aspect:
        raise InvalidInputError(
            f"image is {dims[0]}x{dims[1]}; {model} accepts an aspect ratio of at most "
            f"{limits.max_aspect:g}:1 (no resizing can fix that)",
            index=index,
            rule="image-aspect",
        )


def _scale_range(w: int, h: int, limits: ImageLimits) -> tuple[float, float]:
    """(the least scale the minimum side allows, the scale to use): downscaled only as far as the
    limits need, upscaled only to the minimum side, never past a hard limit (so the least may be
    above the one to use: then no size meets every rule)."""
    hard = math.inf
    if limits.max_pixels is not None:
        hard = min(hard, math.sqrt(limits.max_pixels / (w * h)) * 0.999)
    if limits.max_side is not None:
        hard = min(hard, limits.max_side / max(w, h))
    wanted = min(1.0, hard)
    if limits.fit_pixels is not None and w * h * wanted**2 > limits.fit_pixels:
        wanted = math.sqrt(limits.fit_pixels / (w * h)) * 0.999
    low = limits.min_side / min(w, h) if limits.min_side is not None else 0.0
    return low, min(max(wanted, low), hard)


def _size(w: int, h: int, scale: float, limits: ImageLimits) -> tuple[int, int]:
    """``(w, h)`` times ``scale``, rounded; the shorter side raised to the minimum when rounding
    took it below (the aspect ratio changes by rounding only)."""
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    least = limits.min_side
    if least is not None and min(size) < least:
        if w <= h:
            size = (least, max(least, round(h * least / w)))
        else:
            size = (max(least, round(w * least / h)), least)
    return size


def _rules(limits: ImageLimits) -> str:
    rules = [
        f"each side at least {limits.min_side} px" if limits.min_side else "",
        f"each side at most {limits.max_side} px" if limits.max_side else "",
        f"at most {limits.max_pixels} pixels" if limits.max_pixels else "",
    ]
    return ", ".join(rule for rule in rules if rule)


def _fit(
    image: Any, dims: tuple[int, int], orientation: int, media: Media, limits: ImageLimits, index: int, model: str
) -> tuple[Media, tuple[int, int]]:
    w, h = dims
    low, scale = _scale_range(w, h, limits)
    if low > scale:
        raise InvalidInputError(
            f"image is {w}x{h}; no size with its aspect ratio meets {model}'s rules ({_rules(limits)})",
            index=index,
            rule="image-dimensions",
        )
    size = _size(w, h, scale, limits)
    if media.format != "jpeg" and w * h > MAX_DECODE_PIXELS:
        raise InvalidInputError(
            f"image is {w}x{h} = {w * h} pixels; fitting decodes at most {MAX_DECODE_PIXELS} pixels of a "
            f"{media.format} image (a decompression bomb looks like this); resize it first",
            index=index,
            rule="image-pixels",
        )
    stored = (size[1], size[0]) if orientation in QUARTER_TURNS else size
    image.draft(None, stored)  # a JPEG decodes reduced (by 1/2, 1/4, 1/8), still at least this size
    image = to_rgb_or_rgba(upright(image) if orientation != 1 else image, index)
    keep_png = media.format == "png"
    for attempt in range(12):
        resized = image.resize(size, pillow().Resampling.LANCZOS, reducing_gap=3.0) if size != image.size else image
        out = io.BytesIO()
        if keep_png and attempt == 0:
            resized.save(out, format="PNG", optimize=True)
            fmt = "png"
        else:
            flatten(resized).save(out, format="JPEG", quality=max(90 - 10 * attempt, 40))
            fmt = "jpeg"
        data = out.getvalue()
        if not _problems(len(data), size, limits):
            return replace(media, data=data, format=fmt, fitted=True), size
        if attempt >= 2:
            if scale * 0.8 < low:
                break
            scale *= 0.8
            size = _size(w, h, scale, limits)
    raise InvalidInputError(f"image could not be fitted to {model}'s limits", index=index, rule="image-size")
