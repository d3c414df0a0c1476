"""Edges that must hold: non-list inputs, credentials that cannot be headers, odd retry headers,
and a limiter that is really off when asked."""

from __future__ import annotations

import json
from pathlib import Path

import httpcore
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cn_embeddings import APIError, ArkClient, CNEmbeddingsError, ConfigurationError, InvalidInputError, QianfanClient
from cn_embeddings._ratecontrol import Outcome
from cn_embeddings.vendors import qianfan


@pytest.mark.parametrize("bad", [{"text": "a red hat", "image": "ok.png"}, None, 5, Path("x.png"), "one text"])
def test_a_single_value_instead_of_a_list_is_refused_before_any_request(bad):
    sent = []
    client = ArkClient(api_key="k" * 8, http_client=httpx.Client(transport=httpx.MockTransport(sent.append)))
    with pytest.raises(InvalidInputError, match="expected a list of inputs"):
        client.embed(bad)
    assert sent == []


@pytest.mark.parametrize("key", ["ark-key\nInjected: 1", "ark key", "ark-key\x00", "ark\u200bkey"])
def test_credentials_with_whitespace_or_control_characters_are_refused_without_echo(key, monkeypatch):
    monkeypatch.delenv("ARK_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as caught:
        ArkClient(api_key=key)
    assert key not in str(caught.value) and repr(key) not in str(caught.value)


@pytest.mark.parametrize(
    "header, expected",
    [
        ({"retry-after-ms": "1,000"}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after-ms": "-5"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "x", "retry-after": "2"}, 2.0),
    ],
)
def test_retry_after_headers_that_are_not_numbers_are_ignored(header, expected):
    response = httpx.Response(429, headers=header, json={"error": {"code": "rate_limit", "message": "slow"}})
    error = qianfan.parse_error(response)
    assert error.retryable and error.retry_after == expected


def test_requests_per_second_zero_turns_limiting_fully_off():
    client = QianfanClient(api_key="k" * 8, requests_per_second=0)
    controller = client.controller
    for _ in range(100):
        controller.acquire(deadline=1).settle(Outcome.REFUSED_REQUESTS)
    slots = [controller.acquire(deadline=1) for _ in range(50)]  # no pacing: every slot at once
    assert controller.rate is None and all(slot.sent_at <= slots[0].sent_at + 0.5 for slot in slots)
    assert controller is not QianfanClient(api_key="k" * 8, requests_per_second=0).controller


# -- inputs refused before the wire -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, rule",
    [
        ("a\ud800b", "utf-8"),
        ("\u200b", "non-empty"),
        ("\ufeff", "non-empty"),
        ("\u200f", "non-empty"),
        ("\x00", "non-empty"),
        ("\u0301", "non-empty"),
        ("\u200b\u200c\ufeff", "non-empty"),
    ],
)
def test_texts_that_cannot_be_sent_or_say_nothing_are_refused(text, rule):
    sent = []
    client = QianfanClient(api_key="k" * 8, http_client=httpx.Client(transport=httpx.MockTransport(sent.append)))
    with pytest.raises(InvalidInputError) as caught:
        client.embed(["fine", text])
    assert caught.value.index == 1 and caught.value.rule == rule and sent == []


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("https://user:pass@example.com/a.png", "credentials"),
        ("https:///a.png", "no host"),
        ("https://example.com/a\r\n.png", "control characters"),
        ("https://example.com/" + "a" * 10_000 + ".png", "characters; at most 8192"),
    ],
)
def test_image_urls_that_must_not_reach_the_vendor(url, fragment):
    with pytest.raises(InvalidInputError, match=fragment) as caught:
        ArkClient(api_key="k" * 8).validate([{"image": url}])
    assert caught.value.rule == "url" and "user:pass@example" not in str(caught.value)


def test_hand_built_items_and_media_are_checked_like_any_input():
    from cn_embeddings import Item, Media

    client = ArkClient(api_key="k" * 8)
    for bad, fragment in [
        (Item(text=""), "empty"),
        (Item(), "at least one"),
        (Item(image=Media("image", url="file:///etc/passwd")), "http"),
        (Item(image=Media("image", data=b"garbage", format="png")), "format"),
        (Item(video=Media("video", data=b"\x89PNG\r\n\x1a\n" + b"\0" * 40, format="mp4")), "format"),
        (Item(image=Media("image")), "exactly one"),
    ]:
        with pytest.raises(InvalidInputError, match=fragment):
            client.validate([bad])


def test_files_are_sized_before_they_are_read_and_special_files_refused(tmp_path, monkeypatch):
    import io as _io

    from cn_embeddings import _inputs

    client = ArkClient(api_key="k" * 8)
    with pytest.raises(InvalidInputError, match="not a file"):
        client.validate([{"image": "/dev/zero"}])
    big = tmp_path / "big.png"
    with open(big, "wb") as fh:
        fh.truncate(3 * 1024 * 1024)  # sparse: nothing is written, and nothing must be read
    monkeypatch.setattr(_inputs, "MAX_MEDIA_BYTES", 1024 * 1024)
    reads = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: reads.append(a[0]) or real_open(*a, **k))
    with pytest.raises(InvalidInputError, match="no vendor takes more"):
        client.validate([{"image": big}])
    assert str(big) not in map(str, reads)
    monkeypatch.undo()
    closed = _io.BytesIO(b"x")
    closed.close()
    for stream, fragment in [(closed, "cannot be read"), (_io.StringIO("text"), "text mode")]:
        with pytest.raises(InvalidInputError, match=fragment):
            client.validate([{"image": stream}])

    class Nothing:
        def read(self, n=-1):
            return None

    with pytest.raises(InvalidInputError, match="returned NoneType"):
        client.validate([{"image": Nothing()}])
    with pytest.raises(InvalidInputError, match="cannot be"):
        client.validate([{"image": "x" * 5000 + ".png"}])  # ENAMETOOLONG


def test_a_truncated_png_is_refused_when_pillow_is_there():
    from tests.conftest import png_bytes

    with pytest.raises(InvalidInputError, match="not a whole, readable image"):
        ArkClient(api_key="k" * 8).validate([{"image": png_bytes(32, 32)[:-40]}])


def test_a_truncated_jpeg_is_refused_without_decoding_it():
    import io as _io

    from PIL import Image

    out = _io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(out, format="JPEG")
    whole = out.getvalue()
    assert len(ArkClient(api_key="k" * 8).validate([{"image": whole}])) == 1
    with pytest.raises(InvalidInputError, match="not a whole, readable image"):
        ArkClient(api_key="k" * 8).validate([{"image": whole[: len(whole) // 2]}])
    with pytest.raises(InvalidInputError, match="cut short"):  # header whole, pixel data cut
        ArkClient(api_key="k" * 8).validate([{"image": whole[:-2]}])


def test_float_extremes_are_vectors_not_errors():
    def handler(request):
        return httpx.Response(
            200,
            json={
                "data": [{"index": 0, "embedding": [1e308, 1e308]}],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    client = QianfanClient(api_key="k" * 8, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert client.embed_texts(["a"]) == [[1e308, 1e308]]


# -- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host/v2", "https://", "http:///v2", 5])
def test_bad_base_urls_fail_at_construction(url):
    with pytest.raises(ConfigurationError, match="base_url must be an http"):
        QianfanClient(api_key="k" * 8, base_url=url)


def test_a_retry_after_above_the_cap_is_not_shortened():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(
            429,
            headers={"Retry-After": "600"},
            json={"error": {"code": "rpm_rate_limit_exceeded", "message": "slow down", "type": "rate_limit_exceeded"}},
        )

    client = QianfanClient(api_key="k" * 8, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(CNEmbeddingsError, match="asked to wait 600 s, above the 60 s cap"):
        client.embed_texts(["a"])
    assert len(calls) == 1


def test_vector_lengths_are_checked_across_the_whole_call():
    dims = iter([384, 383])

    def handler(request):
        n = len(json.loads(request.content)["input"])
        dim = next(dims)
        return httpx.Response(
            200,
            json={
                "data": [{"index": i, "embedding": [0.1] * dim} for i in range(n)],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    client = QianfanClient(
        api_key="k" * 8,
        batch_size=2,
        max_concurrency=1,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(APIError, match="vector lengths differ within one call") as caught:
        client.embed_texts(["a", "b", "c", "d"])
    assert caught.value.not_embedded == [2, 3] and sorted(caught.value.partial_vectors) == [0, 1]


# -- secrets ------------------------------------------------------------------------------------------


def _our_locals(error: BaseException) -> str:
    """repr() of every local of every cn_embeddings frame the exception passed through, as
    traceback's capture_locals, pytest -l and error trackers print them."""
    import traceback

    return "\n".join(
        f"{name} = {value!r}"
        for frame, _ in traceback.walk_tb(error.__traceback__)
        if "cn_embeddings" in frame.f_code.co_filename
        for name, value in frame.f_locals.items()
    )


def test_no_frame_on_the_request_path_holds_a_credential():
    key = "ark-0123456789abcdef0123456789"

    def handler(request):
        return httpx.Response(
            401, json={"error": {"code": "AuthenticationError", "message": "bad key", "type": "Unauthorized"}}
        )

    client = ArkClient(api_key=key, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    try:
        client.embed_texts(["x"])
    except CNEmbeddingsError as error:
        text = _our_locals(error)
    assert "Redactor(1 secrets)" in text
    assert key not in text and key[:12] not in text


def test_a_construction_error_leaves_no_credential_in_locals():
    key = "ark-0123456789abcdef0123456789"
    try:
        ArkClient(api_key=key, dimensions=7)
    except ConfigurationError as error:
        text = _our_locals(error)
    assert "Secret('**********')" in text and key not in text


@pytest.mark.parametrize(
    "echo",
    [
        "key ark-0123456789abcdef0123456789 is invalid",
        "key 'ark-0123456789abcdef0123456789\\n' is invalid",
        "key ark-0123456789ab... is invalid",
        "key ark-0123456789abcdef0123456789".replace("-", "%2D"),
    ],
)
def test_redaction_catches_escaped_and_partial_forms(echo):
    from cn_embeddings._secret import Redactor

    redacted = Redactor(("ark-0123456789abcdef0123456789",)).redact(echo)
    assert "0123456789ab" not in redacted and "**********" in redacted


@given(
    secret=st.text(alphabet="abcdefghijkXYZ0123456789-_", min_size=6, max_size=64),
    cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    around=st.text(alphabet="0123456789.,[]-e", max_size=40),
)
def test_redaction_masks_every_run_of_the_part_size(secret, cut, around):
    """The scan is skipped only for a text that holds none of the secret's aligned blocks: any
    run of the part size must still be masked, wherever in the secret it starts and ends."""
    from cn_embeddings._secret import Redactor

    size = Redactor._part_size(secret)
    start = int(cut[0] * (len(secret) - size))
    end = start + size + int(cut[1] * (len(secret) - size - start))
    redacted = Redactor((secret,)).redact(around + secret[start:end] + around)
    assert secret[start : start + size] not in redacted


# -- the user's own objects ---------------------------------------------------------------------------


def _ok_handler(seen):
    def handler(request):
        seen.append(request)
        n = len(json.loads(request.content)["input"])
        return httpx.Response(
            200,
            json={
                "data": [{"index": i, "embedding": [0.1, 0.2]} for i in range(n)],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    return handler


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_progress_callback_that_raises_stops_the_call_with_its_own_error(mode):
    import asyncio

    seen = []

    def progress(done, total):
        raise LookupError("callback broke")

    client = QianfanClient(
        api_key="k" * 8,
        batch_size=1,
        max_concurrency=2,
        http_client=httpx.Client(transport=httpx.MockTransport(_ok_handler(seen))),
        http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(_ok_handler(seen))),
    )
    with pytest.raises(LookupError, match="callback broke"):
        if mode == "sync":
            client.embed(["a", "b", "c", "d"], on_progress=progress)
        else:
            asyncio.run(client.aembed(["a", "b", "c", "d"], on_progress=progress))
    assert len(seen) <= 3  # it stopped sending


def test_a_user_http_clients_default_headers_apply():
    seen = []
    user = httpx.Client(transport=httpx.MockTransport(_ok_handler(seen)), headers={"X-Trace": "abc"})
    QianfanClient(api_key="k" * 8, http_client=user, default_headers={"X-Team": "search"}).embed_texts(["a"])
    assert seen[0].headers["X-Trace"] == "abc" and seen[0].headers["X-Team"] == "search"
    assert seen[0].headers["User-Agent"].startswith("cn-embeddings/")


def test_a_user_async_client_in_a_second_event_loop_is_a_clear_error():
    import asyncio

    seen = []
    client = QianfanClient(
        api_key="k" * 8, http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(_ok_handler(seen)))
    )
    assert asyncio.run(client.aembed_texts(["a"])) == [[0.1, 0.2]]
    with pytest.raises(ConfigurationError, match="tied to the event loop it was first used in"):
        asyncio.run(client.aembed_texts(["a"]))


def test_a_proxy_in_the_environment_is_still_used(monkeypatch):
    """httpx ignores proxy variables for a client given its own transport: with HTTPS_PROXY set,
    the client keeps httpx's transport and its proxy (headers then keep the per-read timeout)."""
    from cn_embeddings import _deadline

    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    plain = QianfanClient(api_key="k" * 8)._connections.sync_client()
    assert isinstance(plain._transport, _deadline.DeadlineTransport)
    assert isinstance(plain._transport.pool, httpcore.ConnectionPool)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    proxied = QianfanClient(api_key="k" * 8)._connections.sync_client()
    assert not isinstance(proxied._transport, _deadline.DeadlineTransport)
    assert any(mount is not None for mount in proxied._mounts.values())
