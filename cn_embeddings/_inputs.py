"""Turning what users pass (texts, paths, bytes, URLs, data URIs) into checked items.

Everything here runs before any request: a bad input raises
:class:`InvalidInputError` naming its index and the rule it breaks. URLs are
passed to the vendor untouched (never downloaded); local media are read once
and their real format is sniffed from the bytes, because Ark rejects a data
URI whose declared format does not match the image.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ._exceptions import InvalidInputError
from ._longtext import has_content

__all__ = ["Item", "Media", "Prepared", "sniff_format", "to_items", "to_media"]

Kind = Literal["image", "video"]

# Magic numbers of the formats the vendors name (docs/wire-reference.md §1.4, §2.2, §3.2).
_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"BM", 0, "bmp"),
    (b"II*\x00", 0, "tiff"),
    (b"MM\x00*", 0, "tiff"),
    (b"\x00\x00\x01\x00", 0, "ico"),
    (b"icns", 0, "icns"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, "jp2"),
    (b"\xffO\xffQ", 0, "j2k"),
]
VIDEO_FORMATS = frozenset({"mp4", "mov", "avi"})
# HEIF major brands (ISO/IEC 23008-12): HEVC-coded images are heic, others heif
HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
HEIF_BRANDS = frozenset({b"mif1", b"msf1"})


def sniff_format(data: bytes) -> str | None:
    """The real format of an image or video, from its first bytes (None if unknown)."""
    for magic, offset, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    if data[4:8] == b"ftyp":  # ISO base media: the major brand tells HEIF images from videos
        brand = data[8:12]
        if brand in HEIC_BRANDS:
            return "heic"
        if brand in HEIF_BRANDS:
            return "heif"
        if brand in (b"avif", b"avis"):
            return "avif"  # no vendor lists it: refused by name rather than sent as a video
        return "mov" if data[8:10] == b"qt" else "mp4"
    return None


@dataclass(frozen=True)
class Media:
    """One image or video: either a remote URL or local bytes with a sniffed format."""

    kind: Kind
    url: str | None = None
    data: bytes | None = None
    format: str | None = None
    fitted: bool = False  # resized or re-encoded to a vendor's limits (fit_images=True)

    @property
    def is_url(self) -> bool:
        return self.url is not None

    def b64(self) -> str:
        """Bare standard base64 of the bytes (Tencent ``ImageData``)."""
        assert self.data is not None
        return base64.b64encode(self.data).decode("ascii")

    def data_uri(self) -> str:
        """``data:image/png;base64,...`` with the sniffed format (Ark, Qianfan)."""
        mime_format = "jpeg" if self.format == "jpeg" else self.format
        return f"data:{self.kind}/{mime_format};base64,{self.b64()}"

    def __repr__(self) -> str:
        where = self.url if self.url and not self.url.startswith("data:") else f"{len(self.data or b'')} bytes"
        return f"Media({self.kind}, {self.format or 'url'}, {where})"


@dataclass(frozen=True)
class Item:
    """One input that yields exactly one vector: text, image, video, or a fused mix."""

    text: str | None = None
    image: Media | None = None
    video: Media | None = None
    video_options: tuple[tuple[str, float], ...] = ()  # e.g. (("fps", 0.5),): Ark's video_url tuning
    # long_inputs="split": the consecutive pieces of ``text`` that are sent, with their lengths in
    # the unit of the model's limit; their vectors are averaged into this input's one vector
    pieces: tuple[tuple[str, int], ...] = ()

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m in ("text", "image", "video") if getattr(self, m) is not None)


_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,(?P<payload>.*)$", re.S
)


def to_media(value: Any, kind: Kind, index: int) -> Media:
    """Normalise one image or video argument; never touches the network."""
    if isinstance(value, Media):
        return _check_media(value, kind, index)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(value), kind, index, "bytes")
    if isinstance(value, io.IOBase) or hasattr(value, "read") and not isinstance(value, (str, os.PathLike)):
        return _from_bytes(_read_stream(value, kind, index), kind, index, "stream")
    if isinstance(value, os.PathLike):
        return _from_path(Path(value), kind, index)
    if not isinstance(value, str):
        from ._pil import from_pil, is_pil_image

        if kind == "image" and is_pil_image(value):
            return _from_bytes(from_pil(value, index), kind, index, "PIL image")
        raise InvalidInputError(
            f"{kind} must be a path, bytes, a file object, a PIL image, an http(s) URL or a data URI, "
            f"not {type(value).__name__}",
            index=index,
            rule="type",
        )
    if value.startswith("data:"):
        return _from_data_uri(value, kind, index)
    scheme = value.split("://", 1)[0].lower() if "://" in value else None
    if scheme in ("http", "https"):
        return Media(kind=kind, url=_check_url(value, kind, index))
    if scheme is not None:
        raise InvalidInputError(
            f"unsupported URL scheme {scheme}:// for {kind} (use http(s) URLs, data URIs or local paths)",
            index=index,
            rule="url-scheme",
        )
    return _from_path(Path(value), kind, index)


# No vendor takes a medium above this (Ark: 50 MB videos in a 64 MB body); files are checked
# against it before they are read, and read no further than it.
MAX_MEDIA_BYTES = 64 * 1024 * 1024
MAX_URL_LENGTH = 8192


def _check_url(url: str, kind: Kind, index: int) -> str:
    """An http(s) URL the vendor will fetch: a host, no credentials, no control characters, sane length."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInputError(
            f"{kind} URL is {len(url)} characters; at most {MAX_URL_LENGTH}", index=index, rule="url"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 or ch.isspace() for ch in url):
        raise InvalidInputError(f"{kind} URL holds whitespace or control characters", index=index, rule="url")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise InvalidInputError(f"{kind} URL is malformed", index=index, rule="url") from None
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(
            f"{kind} URL holds credentials (user:password@); the vendor would see them", index=index, rule="url"
        )
    if not host:
        raise InvalidInputError(f"{kind} URL has no host", index=index, rule="url")
    return url


def _read_stream(stream: Any, kind: Kind, index: int) -> bytes:
    """At most MAX_MEDIA_BYTES + 1 bytes of a file object; its failures become InvalidInputError."""
    try:
        if hasattr(stream, "seek"):
            try:
                stream.seek(0)
            except (OSError, ValueError):
                pass
        data = stream.read(MAX_MEDIA_BYTES + 1)
    except (OSError, ValueError, TypeError) as error:
        raise InvalidInputError(
            f"{kind} file object cannot be read ({type(error).__name__}: {error})", index=index, rule="readable"
        ) from None
    if isinstance(data, str):
        raise InvalidInputError(
            f"{kind} file object is open in text mode; open it with 'rb'", index=index, rule="readable"
        )
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError(
            f"{kind} file object's read() returned {type(data).__name__}, not bytes", index=index, rule="readable"
        )
    if len(data) > MAX_MEDIA_BYTES:
        raise InvalidInputError(f"{kind} is over {MAX_MEDIA_BYTES} bytes", index=index, rule="media-size")
    return bytes(data)


def _from_path(path: Path, kind: Kind, index: int) -> Media:
    """A regular file, its size checked before it is read (a device or a 2 GiB file is never read)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidInputError(f"{kind} file not found: {path}", index=index, rule="file-exists") from None
    except (OSError, ValueError) as error:
        raise InvalidInputError(
            f"{kind} path cannot be used ({type(error).__name__})", index=index, rule="file-exists"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(
            f"{kind} path is not a file (a folder, device or pipe): {path}", index=index, rule="file-exists"
        )
    if info.st_size > MAX_MEDIA_BYTES:
        raise InvalidInputError(
            f"{kind} file is {info.st_size} bytes; no vendor takes more than {MAX_MEDIA_BYTES}",
            index=index,
            rule="media-size",
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_MEDIA_BYTES + 1)
    except OSError as error:
        raise InvalidInputError(
            f"{kind} file cannot be read ({type(error).__name__}): {path}", index=index, rule="readable"
        ) from None
    if len(data) > MAX_MEDIA_BYTES:  # grew, or a special file that stat reported as small
        raise InvalidInputError(f"{kind} file is over {MAX_MEDIA_BYTES} bytes", index=index, rule="media-size")
    return _from_bytes(data, kind, index, str(path))


def _check_media(media: Media, kind: Kind, index: int) -> Media:
    """A Media built by hand gets the same checks as one built from a path or a URL."""
    if not isinstance(media.kind, str) or media.kind != kind:
        raise InvalidInputError(f"a {media.kind} Media given as the {kind}", index=index, rule="type")
    if (media.url is None) == (media.data is None):
        raise InvalidInputError(f"{kind} Media needs exactly one of url and data", index=index, rule="type")
    if media.url is not None:
        if not isinstance(media.url, str):
            raise InvalidInputError(f"{kind} Media url must be a str", index=index, rule="type")
        scheme = media.url.split("://", 1)[0].lower() if "://" in media.url else None
        if scheme not in ("http", "https"):
            raise InvalidInputError(f"{kind} Media url must be http(s)", index=index, rule="url-scheme")
        return Media(kind=kind, url=_check_url(media.url, kind, index))
    if not isinstance(media.data, (bytes, bytearray)):
        raise InvalidInputError(f"{kind} Media data must be bytes", index=index, rule="type")
    checked = _from_bytes(bytes(media.data), kind, index, "Media")
    declared = media.format.lower() if isinstance(media.format, str) else media.format
    if declared is not None and {"jpg": "jpeg"}.get(declared, declared) != checked.format:
        raise InvalidInputError(
            f"{kind} Media says format {media.format!r} but its bytes are {checked.format}", index=index, rule="format"
        )
    return checked


def _from_bytes(data: bytes, kind: Kind, index: int, origin: str) -> Media:
    if not data:
        raise InvalidInputError(f"{kind} is empty (0 bytes): {origin}", index=index, rule="non-empty")
    fmt = sniff_format(data)
    is_video = fmt in VIDEO_FORMATS
    if fmt is None or is_video != (kind == "video"):
        raise InvalidInputError(
            f"unknown or unsupported {kind} format in {origin} (first bytes {data[:8]!r})", index=index, rule="format"
        )
    return Media(kind=kind, data=data, format=fmt)


def _from_data_uri(uri: str, kind: Kind, index: int) -> Media:
    match = _DATA_URI.match(uri)
    if not match or not match.group("b64"):
        raise InvalidInputError(
            f"malformed {kind} data URI (expected data:<mime>;base64,<data>)", index=index, rule="data-uri"
        )
    try:
        data = base64.b64decode(match.group("payload"), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"malformed base64 in {kind} data URI", index=index, rule="data-uri") from None
    return _from_bytes(data, kind, index, "data URI")


class Prepared(list[Item]):
    """Items a client's ``validate()`` returned, with the model configuration they were checked
    against: ``embed()`` of a client with that configuration sends them as they are, without
    reading or checking anything again (LlamaIndex checks a whole batch call first, then sends
    its pieces)."""

    def __init__(self, items: Iterable[Item], checked_for: object) -> None:
        super().__init__(items)
        self.checked_for = checked_for


def to_items(inputs: Sequence[Any], *, default: Literal["text", "image"] = "text") -> list[Item]:
    """Normalise user inputs; a bare value is a text (or an image when ``default='image'``)."""
    if isinstance(inputs, (str, bytes, bytearray, Mapping, os.PathLike, Item)) or not isinstance(inputs, Sequence):
        raise InvalidInputError(
            f"expected a list of inputs, got a single {type(inputs).__name__} (wrap one input in a list)", rule="list"
        )
    items: list[Item] = []
    for index, value in enumerate(inputs):
        if isinstance(value, Item):
            items.append(_check_item(value, index))
        elif isinstance(value, Mapping):
            items.append(_from_mapping(value, index))
        elif default == "image":
            items.append(Item(image=to_media(value, "image", index)))
        else:
            items.append(Item(text=_check_text(value, index)))
    return items


# Tuning fields of a video input, next to it in the mapping (Ark; ranges checked by the vendor).
VIDEO_OPTIONS = ("fps", "max_video_tokens", "min_frame_tokens", "max_frame_tokens", "min_frames")


def _from_mapping(value: Mapping[str, Any], index: int) -> Item:
    unknown = set(value) - {"text", "image", "video", *VIDEO_OPTIONS}
    if unknown:
        raise InvalidInputError(
            f"unknown keys {sorted(unknown)} (allowed: text, image, video, and with a video "
            f"{', '.join(VIDEO_OPTIONS)})",
            index=index,
            rule="keys",
        )
    tuning = {k: value[k] for k in VIDEO_OPTIONS if value.get(k) is not None}
    if tuning and value.get("video") is None:
        raise InvalidInputError(f"{', '.join(tuning)} only go with a video", index=index, rule="video-options")
    for name, number in tuning.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise InvalidInputError(
                f"{name} must be a number, not {type(number).__name__}", index=index, rule="video-options"
            )
    text = value.get("text")
    item = Item(
        text=_check_text(text, index) if text is not None else None,
        image=to_media(value["image"], "image", index) if value.get("image") is not None else None,
        video=to_media(value["video"], "video", index) if value.get("video") is not None else None,
        video_options=tuple(tuning.items()),
    )
    if not item.modalities:
        raise InvalidInputError("an input needs at least one of text, image, video", index=index, rule="non-empty")
    return item


def _check_item(item: Item, index: int) -> Item:
    """An Item built by hand gets the same checks as one built from a mapping."""
    if not item.modalities:
        raise InvalidInputError("an input needs at least one of text, image, video", index=index, rule="non-empty")
    return Item(
        text=_check_text(item.text, index) if item.text is not None else None,
        image=to_media(item.image, "image", index) if item.image is not None else None,
        video=to_media(item.video, "video", index) if item.video is not None else None,
        video_options=item.video_options,
    )


def _check_text(value: Any, index: int) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"text must be str, not {type(value).__name__}", index=index, rule="type")
    if not value.strip():
        raise InvalidInputError("text is empty or whitespace only", index=index, rule="non-empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidInputError(
            f"text cannot be sent as UTF-8 (a lone surrogate at position {error.start})", index=index, rule="utf-8"
        ) from None
    if not has_content(value):
        raise InvalidInputError(
            "text has no visible content (only control, format or combining characters)", index=index, rule="non-empty"
        )
    return value
