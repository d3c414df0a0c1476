"""A census of clearly bad inputs, against every kind of model: each is refused before the wire.

Every case is sent as the second input of a call (after a good text) to a
client whose transport records requests. The only accepted outcome is an
``InvalidInputError`` naming input 1 (or, for a whole call that is not a list,
the call), or a ``ConfigurationError`` for a modality the model cannot take,
with no request sent. The test prints the census as a table and checks the
figures the Reliability page (docs/reliability.md) quotes.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cn_embeddings import (
    ArkClient,
    CNEmbeddingsError,
    ConfigurationError,
    InvalidInputError,
    Item,
    Media,
    QianfanClient,
    TencentCloudClient,
)
from tests.conftest import png_bytes

RELIABILITY = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
# name: (vendor, model, modalities, which over-long texts break a documented limit). Tencent's
# text models document no text limit, only the 10 MB request body [INF]; gme documents neither.
MODELS: dict[str, tuple[str, str, set[str], str]] = {
    "tencent-weclip": ("tencent", "WeCLIPv2-Base", {"text", "image"}, "all"),
    "tencent-bge-m3": ("tencent", "bge-m3", {"text"}, "body"),
    "qianfan-embedding-v1": ("qianfan", "embedding-v1", {"text"}, "all"),
    "qianfan-gme": ("qianfan", "gme-qwen2-vl-2b-instruct", {"text", "image"}, "none"),
    "ark-vision": ("ark", "doubao-embedding-vision-250615", {"text", "image", "video"}, "all"),
    "ark-text": ("ark", "doubao-embedding-text-240715", {"text"}, "all"),
}


def _client(vendor: str, model: str, sent: list) -> Any:
    http = httpx.Client(transport=httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500)))
    if vendor == "tencent":
        return TencentCloudClient(model, secret_id="AKIDcensus", secret_key="census-key", http_client=http)
    cls = QianfanClient if vendor == "qianfan" else ArkClient
    return cls(model, api_key="census-key", http_client=http)


def _texts(too_long: str) -> list[tuple[str, Any]]:
    """Texts no vendor can use: nothing to embed, not encodable, far too long, not text at all."""
    empty = [
        "",
        " ",
        "\n\t\r",
        "\u3000",
        "\u00a0",
        "\u2028",
        "\u200b",
        "\ufeff",
        "\u200f",
        "\u200e",
        "\u200d",
        "\u2060",
        "\x00",
        "\x07",
        "\u0301",
        "\u0301\u0302",
        "\u200b\u200c\ufeff",
        "\x00 \x00",
        "\u202e",
        "\u180e",
    ]
    surrogates = ["\ud800", "a\ud800", "\udfffa", "a\udc00b", "\ud83d", "x" * 50 + "\ud800", "\udbff\udbff"]
    body = ["word" * 3_000_000]  # a 12 MB single word: one WordPiece token at least, 12 MB of body
    long = {"all": ["字" * 1_000_001, "a " * 1_000_001, *body], "body": body, "none": []}[too_long]
    wrong = [
        None,
        1,
        1.5,
        True,
        b"text",
        bytearray(b"text"),
        object(),
        ["nested"],
        ("tuple",),
        {"text": ""},
        {"text": None},
        {"text": 5},
        {"text": "\u200b"},
        {},
        {"txt": "a"},
        {"text": "a", "colour": "red"},
    ]
    return (
        [(f"empty {t!r}", t) for t in empty]
        + [(f"surrogate {t[:8]!r}", t) for t in surrogates]
        + [(f"long {len(t)} chars", t) for t in long]
        + [(f"not text {type(t).__name__}", t) for t in wrong]
    )


def _images(tmp: Path) -> list[tuple[str, Any]]:
    """Images no vendor should be sent: broken, mislabelled, unreadable, unsafe or unbounded."""
    good = png_bytes(32, 32)
    files = {
        "text.png": b"not an image at all",
        "bm.bmp": b"BM this is text",
        "empty.png": b"",
        "cut.png": good[: len(good) // 2],
        "head.png": good[:8],
        "gif87.gif": b"GIF87a" + b"\0" * 3,
    }
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    (tmp / "folder.png").mkdir(exist_ok=True)
    sparse = tmp / "huge.png"
    with open(sparse, "wb") as fh:
        fh.truncate(65 * 1024 * 1024)
    from PIL import Image

    jpeg = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 30)).save(jpeg, "JPEG")
    closed = io.BytesIO(good)
    closed.close()

    class ReadsNone:
        def read(self, n: int = -1) -> None:
            return None

    class ReadsStr:
        def read(self, n: int = -1) -> str:
            return "text"

    class ReadFails:
        def read(self, n: int = -1) -> bytes:
            raise OSError("disk gone")

    urls = [
        "https://user:pass@example.com/a.png",
        "https://token@example.com/a.png",
        "https:///a.png",
        "https://",
        "https://example.com/a\r\n.png",
        "https://example.com/a\t.png",
        "https://example.com/a\x00.png",
        "https://example.com/" + "a" * 10_000 + ".png",
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:image/png;base64,!!!!",
        "data:image/png;base64,",
        "data:text/plain;base64,aGk=",
        "data:image/png;base64," + "QUFB" * 10,
        "//example.com/a.png",
    ]
    paths = [tmp / n for n in files] + [
        tmp / "folder.png",
        sparse,
        tmp / "missing.png",
        Path("/dev/zero"),
        Path("/proc/self/mem"),
        Path("x" * 5000 + ".png"),
        "/etc/passwd",
    ]
    objects = [
        good[: len(good) // 2],
        b"garbage",
        jpeg.getvalue()[:-200],
        b"BM" + b"\0" * 40,
        b"",
        closed,
        io.StringIO("text"),
        ReadsNone(),
        ReadsStr(),
        ReadFails(),
        io.BytesIO(b"garbage"),
    ]
    media = [
        Item(image=Media("image", url="file:///etc/passwd")),
        Item(image=Media("image", data=b"garbage", format="png")),
        Item(image=Media("image")),
        Item(image=Media("image", data=good, url="https://a.b/c.png")),
        Item(image=Media("image", data=good, format="exe")),
        Item(image=Media("image", url="https://u:p@a.b/c.png")),
        Item(text="", image=Media("image", data=good, format="png")),
        Item(),
    ]
    return (
        [(f"url {u[:30]!r}", {"image": u}) for u in urls]
        + [(f"path {str(p)[-24:]}", {"image": p}) for p in paths]
        + [(f"object {type(o).__name__}", {"image": o}) for o in objects]
        + [(f"Item {i!r}"[:60], i) for i in media]
    )


def _videos() -> list[tuple[str, Any]]:
    png = png_bytes(32, 32)
    mp4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32
    return [
        ("video holding a png", Item(video=Media("video", data=png, format="mp4"))),
        ("video url with credentials", {"video": "https://u:p@example.com/v.mp4"}),
        ("video of no bytes", {"video": b""}),
        ("fps 0", {"video": mp4, "fps": 0}),
        ("fps 100", {"video": mp4, "fps": 100}),
        ("min_frames -1", {"video": mp4, "min_frames": -1}),
        ("fps 'fast'", {"video": mp4, "fps": "fast"}),
        ("max_video_tokens 10**12", {"video": mp4, "max_video_tokens": 10**12}),
    ]


def _calls() -> list[tuple[str, Any]]:
    """Whole calls that are not a list of inputs."""
    return [
        (f"call {type(v).__name__}", v)
        for v in [None, 5, 1.5, Path("x.png"), "one text", b"bytes", {"text": "a red hat", "image": "ok.png"}, object()]
    ]


def _modality_mismatches() -> list[tuple[str, Any, str]]:
    png = png_bytes(32, 32)
    mp4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32
    return [
        ("image", {"image": png}, "image"),
        ("video", {"video": mp4}, "video"),
        ("text and image", {"text": "a", "image": png}, "image"),
    ]


def _run(call: Callable[[], object], sent: list) -> str:
    try:
        call()
    except (InvalidInputError, ConfigurationError):
        return "refused before the wire" if not sent else "typed, but after a request"
    except CNEmbeddingsError:
        return "typed, but after a request" if sent else "typed, other"
    except Exception as error:  # noqa: BLE001 - the census counts these; there must be none
        return f"untyped {type(error).__name__}"
    return "reached the wire" if sent else "accepted"


def test_every_clearly_bad_input_is_refused_before_the_wire(tmp_path, capsys):
    outcomes: Counter[str] = Counter()
    rows: list[tuple[str, str, str]] = []
    for name, (vendor, model, modalities, too_long) in MODELS.items():
        cases: list[tuple[str, Any]] = list(_texts(too_long))
        if "image" in modalities:
            cases += _images(tmp_path)
        if "video" in modalities:
            cases += _videos()
        cases += [
            (f"{label} to a model without {kind}", value)
            for label, value, kind in _modality_mismatches()
            if kind not in modalities
        ]
        for label, value in cases:
            sent: list = []
            client = _client(vendor, model, sent)
            outcome = _run(lambda c=client, v=value: c.embed(["a good text", v]), sent)
            outcomes[outcome] += 1
            rows.append((name, label, outcome))
        for label, value in _calls():
            sent = []
            client = _client(vendor, model, sent)
            outcome = _run(lambda c=client, v=value: c.embed(v), sent)
            outcomes[outcome] += 1
            rows.append((name, label, outcome))
    total = sum(outcomes.values())
    with capsys.disabled():
        print(f"\ncensus: {total} bad inputs across {len(MODELS)} models")
        for outcome, n in outcomes.most_common():
            print(f"  {outcome:28} {n}")
    wrong = [row for row in rows if row[2] != "refused before the wire"]
    assert wrong == [], "\n".join(map(str, wrong))
    stated = re.search(r"(\d[\d,]*) clearly bad inputs", RELIABILITY.read_text(encoding="utf-8"))
    assert stated is not None and int(stated.group(1).replace(",", "")) == total, (
        "update the census figure in docs/reliability.md"
    )


@pytest.mark.parametrize("value", [{"image": "https://u:p@example.com/a.png"}, "\ud800"])
def test_a_refusal_names_the_input_and_never_echoes_credentials(value):
    sent: list = []
    with pytest.raises(InvalidInputError) as caught:
        _client("ark", "doubao-embedding-vision-250615", sent).embed(["a good text", value])
    assert caught.value.index == 1 and caught.value.rule and "u:p@" not in str(caught.value) and sent == []
