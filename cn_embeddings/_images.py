"""Image limits per vendor, checked before sending, and fitting images to them with Pillow.

Byte sizes are checked always. Pixel sizes need the image's header, read with
Pillow when it is installed (the ``[images]`` extra); Pillow also checks that
the file is whole. With ``fit_images=True`` an image that breaks a limit is
downscaled (or, below a minimum side, upscaled) and re-encoded until it fits,
and the change is logged; without it the error says that fitting would help.
``PIL.Image.Image`` objects are accepted as image inputs and sent as PNG, or
as JPEG when they came from a JPEG.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, replace
from typing import Any

from ._exceptions import InvalidInputError
from ._inputs import Media

__all__ = ["ImageLimits", "check_image", "from_pil", "is_pil_image"]

log = logging.getLogger("cn_embeddings")

FIT_HINT = "pass fit_images=True to downscale it (needs Pillow: pip install 'cn-embeddings[images]')"


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


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def is_pil_image(value: Any) -> bool:
    image = _pillow()
    return image is not None and isinstance(value, image.Image)


def from_pil(image: Any) -> bytes:
    """A PIL image as bytes to send: JPEG when it came from one, PNG otherwise."""
    out = io.BytesIO()
    if image.format == "JPEG" and image.mode in ("RGB", "L"):
        image.save(out, format="JPEG", quality=95)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


# Formats whose magic number Pillow always reads: bytes that start like one of them but that
# Pillow cannot identify are broken, not merely exotic.
PILLOW_READS = frozenset({"png", "jpeg", "bmp", "gif", "webp", "tiff", "ico"})


def _open(data: bytes, index: int, fmt: str | None) -> Any:
    """The image's header via Pillow (None without Pillow); a truncated or corrupt file is refused."""
    image_module = _pillow()
    if image_module is None:
        return None
    try:
        probe = image_module.open(io.BytesIO(data))
    except image_module.UnidentifiedImageError:
        if fmt in PILLOW_READS:
            raise InvalidInputError(f"image starts like a {fmt} file but is not a readable {fmt} image",
                                    index=index, rule="image-corrupt") from None
        return None  # a format Pillow does not read (heic...): the vendor's format list has the last word
    except Exception:  # noqa: BLE001
        probe = None
    try:
        if probe is None:
            raise ValueError("unreadable header")
        probe.verify()  # structure and checksums (PNG chunks, ...), without decoding the pixels
        if probe.format == "JPEG" and not data.rstrip(b"\0").endswith(b"\xff\xd9"):
            raise ValueError("no end-of-image marker: the file is cut short")  # verify() reads no JPEG body
        return image_module.open(io.BytesIO(data))  # the header only: pixels are decoded if fitting
    except Exception as error:  # noqa: BLE001 - Pillow raises many kinds for a broken file
        raise InvalidInputError(f"image is not a whole, readable image ({type(error).__name__}: {error})",
                                index=index, rule="image-corrupt") from None


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


def check_image(media: Media, limits: ImageLimits, index: int, model: str, fit: bool) -> Media:
    """``media`` if it is within ``limits``; fitted when ``fit``; else InvalidInputError."""
    if media.is_url or media.kind != "image" or media.data is None:
        return media
    image = _open(media.data, index, media.format)
    dims = image.size if image is not None else None
    if dims is not None and limits.max_aspect is not None and max(dims) / max(min(dims), 1) > limits.max_aspect:
        raise InvalidInputError(f"image is {dims[0]}x{dims[1]}; {model} accepts an aspect ratio of at most "
                                f"{limits.max_aspect:g}:1 (no resizing can fix that)", index=index, rule="image-aspect")
    problems = _problems(len(media.data), dims, limits)
    if not problems:
        return media
    if not fit or image is None:
        raise InvalidInputError(f"image {problems[0]} for {model}; {FIT_HINT}", index=index,
                                rule="image-size" if "bytes" in problems[0] else "image-dimensions")
    assert dims is not None
    fitted = _fit(image, media, limits, index, model)
    log.info("input %d: image fitted for %s: %dx%d %s, %d bytes -> %dx%d %s, %d bytes", index, model,
             dims[0], dims[1], media.format, len(media.data), *fitted[1], fitted[0].format, len(fitted[0].data or b""))
    return fitted[0]


def _fit(image: Any, media: Media, limits: ImageLimits, index: int, model: str) -> tuple[Media, tuple[int, int]]:
    w, h = image.size
    scale = 1.0
    for cap in (limits.max_pixels, limits.fit_pixels):
        if cap is not None and w * h > cap:
            scale = min(scale, math.sqrt(cap / (w * h)) * 0.999)
    if limits.max_side is not None and max(w, h) * scale > limits.max_side:
        scale = limits.max_side / max(w, h)
    if limits.min_side is not None and min(w, h) * scale < limits.min_side:
        scale = limits.min_side / min(w, h)
    image_module = _pillow()
    keep_png = media.format == "png"
    for attempt in range(12):
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if limits.min_side is not None:
            size = (max(size[0], limits.min_side), max(size[1], limits.min_side))
        resized = image.resize(size, image_module.Resampling.LANCZOS) if size != (w, h) else image
        out = io.BytesIO()
        if keep_png and attempt == 0:
            resized.save(out, format="PNG", optimize=True)
            fmt = "png"
        else:
            resized.convert("RGB").save(out, format="JPEG", quality=max(90 - 10 * attempt, 40))
            fmt = "jpeg"
        data = out.getvalue()
        if not _problems(len(data), size, limits):
            return replace(media, data=data, format=fmt, fitted=True), size
        if attempt >= 2:
            scale *= 0.8
    raise InvalidInputError(f"image could not be fitted to {model}'s limits", index=index, rule="image-size")
