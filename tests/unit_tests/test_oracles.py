"""Our request bodies equal what the official Ark SDKs send (less the nulls they add): the older
``volcengine-ark-runtime`` and ``arkruntime``, generated from the API spec; and both SDKs' retry
headers lead to the same number of attempts as ours."""

from __future__ import annotations

import json

import httpx
import pytest
from arkruntime import Ark as ArkRuntime
from volcenginesdkarkruntime import Ark

from cn_embeddings import ArkClient, Item
from cn_embeddings.vendors.ark import ArkProtocol

SDKS = pytest.mark.parametrize("sdk", [Ark, ArkRuntime], ids=["volcengine-ark-runtime", "arkruntime"])


def sdk_body(method: str, sdk: type = Ark, **kwargs) -> dict:
    captured = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(json.loads(request.content))
        data = {"embedding": [0.0], "object": "embedding"}
        return httpx.Response(
            200,
            json={
                "id": "1",
                "model": "m",
                "created": 1,
                "object": "list",
                "data": data if method == "multimodal" else [{**data, "index": 0}],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    client = sdk(
        api_key="k",
        base_url="https://ark.test/api/v3",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    if method == "multimodal":
        client.multimodal_embeddings.create(**kwargs)
    else:
        client.embeddings.create(**kwargs)
    return {k: v for k, v in captured[0].items() if v is not None}


def ours(items, **kwargs):
    """The body our client would send: validated and built exactly as on the wire."""
    client = ArkClient(api_key="k", **kwargs)
    prepared = client.validate(items)
    assert len(prepared) == 1
    return json.loads(client.protocol.build_request(prepared).content)


PNG_URI = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR4nGM4ISdHEmIY1TCqYfhqAADkYgQQ60fIxgAAAABJRU5ErkJggg=="  # 16x16: Ark refuses sides of 14 px or less


@pytest.mark.parametrize(
    "item,sdk_input,kwargs",
    [
        ("天很蓝", [{"type": "text", "text": "天很蓝"}], {}),
        (
            {"text": "red hat", "image": "https://x.test/a.jpg"},
            [{"type": "text", "text": "red hat"}, {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}],
            {"dimensions": 1024, "instructions": "Target_modality: text and image"},
        ),
        ({"image": PNG_URI}, [{"type": "image_url", "image_url": {"url": PNG_URI}}], {"encoding_format": "float"}),
        (
            {"text": "a", "video": "https://x.test/v.mp4"},
            [{"type": "text", "text": "a"}, {"type": "video_url", "video_url": {"url": "https://x.test/v.mp4"}}],
            {},
        ),
    ],
)
@SDKS
def test_multimodal_body_equals_sdk(item, sdk_input, kwargs, sdk):
    fmt = kwargs.get("encoding_format", "base64")
    sdk_kwargs = {k: v for k, v in kwargs.items() if k != "encoding_format"}
    expected = sdk_body(
        "multimodal", sdk, model="doubao-embedding-vision-251215", input=sdk_input, encoding_format=fmt, **sdk_kwargs
    )
    assert ours([item], **kwargs) == expected


@SDKS
def test_sparse_body_equals_sdk(sdk):
    expected = sdk_body(
        "multimodal",
        sdk,
        model="doubao-embedding-vision-251215",
        input=[{"type": "text", "text": "x"}],
        encoding_format="float",
        sparse_embedding={"type": "enabled"},
    )
    assert ours(["x"], sparse=True, encoding_format="float") == expected


@SDKS
def test_text_endpoint_body_equals_sdk(sdk):
    expected = sdk_body("text", sdk, model="doubao-embedding-text-240715", input=["a", "b"], encoding_format="base64")
    body = ArkProtocol(model="doubao-embedding-text-240715").body([Item(text="a"), Item(text="b")])
    assert body == expected


def test_local_image_becomes_data_uri_with_sniffed_format():
    from cn_embeddings._inputs import to_media
    from tests.conftest import png_bytes

    media = to_media(png_bytes(), "image", 0)  # bytes with no format given: it is sniffed
    assert media.format == "png" and media.data_uri().startswith("data:image/png;base64,iVBOR")


@pytest.mark.parametrize(
    "status,headers",
    [
        (429, {}),
        (429, {"x-should-retry": "false"}),
        (400, {"x-should-retry": "true"}),
        (400, {}),
        (503, {"retry-after-ms": "1"}),
        (500, {"x-should-retry": "false"}),
    ],
)
def test_retry_headers_lead_to_the_attempts_arkruntime_makes(status, headers):
    """arkruntime honours ``x-should-retry``, ``retry-after-ms`` and ``Retry-After``: with two
    retries allowed, we make as many attempts as it does, for each header."""

    def answer(count: list) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            count.append(1)
            return httpx.Response(
                status,
                headers={"retry-after-ms": "1", **headers},
                json={"error": {"code": "SomeError", "message": "no", "type": "x"}},
            )

        return httpx.MockTransport(handler)

    theirs: list = []
    client = ArkRuntime(
        api_key="k",
        base_url="https://ark.test/api/v3",
        max_retries=2,
        http_client=httpx.Client(transport=answer(theirs)),
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK's own error types
        client.embeddings.create(model="doubao-embedding-text-240715", input=["a"])
    ours_count: list = []
    mine = ArkClient(
        "doubao-embedding-text-240715",
        api_key="k",
        max_retries=2,
        zero_waits=True,
        requests_per_second=0,
        http_client=httpx.Client(transport=answer(ours_count)),
    )
    with pytest.raises(Exception):  # noqa: B017, PT011
        mine.embed_texts(["a"])
    assert len(ours_count) == len(theirs)
