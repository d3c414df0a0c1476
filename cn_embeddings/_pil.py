"""Pillow images as the vendors take them: upright, in RGB or RGBA, encoded as JPEG or PNG.

Pillow is optional (the ``[images]`` extra). A ``PIL.Image.Image`` can be in any
of Pillow's modes, and PNG holds only some of them, so every mode is converted
first, by one table:

- RGB and RGBA stay; RGBX, CMYK, YCbCr, LAB, HSV, L and 1 become RGB; LA, La,
  PA, RGBa and a palette (P) with transparency become RGBA, any other P RGB.
- I, F and the I;16 modes (16- and 32-bit pixels: depth maps, scientific
  images) are refused: no one mapping of their values to colours is right for
  every image (Pillow's conversion clips at 255), so the caller scales them.

EXIF orientation is applied to the pixels (the vendors may ignore the tag), and
the image leaves as JPEG when it came from a JPEG (quality 95), else as PNG.
"""

from __future__ import annotations

import io
from typing import Any

from ._exceptions import InvalidInputError

__all__ = ["flatten", "from_pil", "is_pil_image", "pillow", "upright"]

# Modes whose pixels are not 8-bit colours: refused rather than clipped.
DEEP_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N")
ALPHA_MODES = frozenset({"RGBA", "LA", "La", "PA", "RGBa"})


def pillow() -> Any:
    """``PIL.Image``, or None when Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def is_pil_image(value: Any) -> bool:
    image = pillow()
    return image is not None and isinstance(value, image.Image)


def upright(image: Any) -> Any:
    """``image`` with its EXIF orientation applied to the pixels (the tag then says 1)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(image) or image


def to_rgb_or_rgba(image: Any, index: int) -> Any:
    """``image`` in RGB or RGBA (see the module docstring); InvalidInputError for deep modes."""
    mode = image.mode
    if mode in DEEP_MODES:
        raise InvalidInputError(
            f"image mode {mode} holds 16- or 32-bit values that have no one mapping to colours; scale it to 8 bits "
            "first (for example image.point(...).convert('L'))",
            index=index,
            rule="image-mode",
        )
    if mode in ("RGB", "RGBA"):
        return image
    if mode == "La":
        image = image.convert("LA")
    alpha = mode in ALPHA_MODES or mode == "P" and "transparency" in image.info
    return image.convert("RGBA" if alpha else "RGB")


def flatten(image: Any) -> Any:
    """An RGB image for JPEG: transparent areas over white (dropping alpha would show what the
    transparent pixels happen to hold, often black)."""
    if image.mode == "RGB":
        return image
    image = image.convert("RGBA")
    background = pillow().new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background


def from_pil(image: Any, index: int) -> bytes:
    """A PIL image as bytes to send: upright, RGB or RGBA, JPEG when it came from one, else PNG."""
    came_from_jpeg = image.format == "JPEG"
    image = to_rgb_or_rgba(upright(image), index)
    out = io.BytesIO()
    if came_from_jpeg and image.mode == "RGB":
        image.save(out, format="JPEG", quality=95)
    else:
        image.save(out, format="PNG")
    return out.getvalue()
