"""A hostile server kit: a real socket server on 127.0.0.1 that drips, and answers that inflate
or lie; plus a property test over hostile answers: the only outcomes are exact vectors or typed
errors with exact records."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
import tracemalloc
import zlib

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cn_embeddings import APIError, APITimeoutError, CNEmbeddingsError, QianfanClient, _flow


class Dripper:
    """Answers every connection by sending ``head`` then ``body`` one byte every ``pause`` s."""

    def __init__(self, head: bytes, body: bytes, pause: float) -> None:
        self.head, self.body, self.pause = head, body, pause
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v2"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(self.head)
            for byte in self.body:
                if self.stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(self.pause)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


BODY = json.dumps(
    {"data": [{"index": 0, "embedding": [0.1] * 8}], "usage": {"prompt_tokens": 1, "total_tokens": 1}}
).encode()


@pytest.fixture(params=["body", "headers"])
def dripper(request):
    """A server that drips its body, or its whole answer from the first header line, a byte every
    0.2 s: every read returns within httpx's 1 s per-read timeout."""
    if request.param == "body":
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode()
            + b"\r\n\r\n"
        )
        server = Dripper(head, BODY, 0.2)
    else:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"x" * 60
        server = Dripper(b"", head + b"\r\n\r\n" + BODY, 0.2)
    yield server
    server.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.slow  # runs against the wall clock
def test_a_dripping_answer_is_cut_at_the_deadline(dripper, mode):
    """Each attempt ends at the 1 s deadline: 2 attempts take about 2 s, not 2 x 80 bytes x 0.2 s
    (sync calls with dripping headers used to run that long)."""
    client = QianfanClient(api_key="k" * 8, base_url=dripper.url, timeout=1, max_retries=1, zero_waits=True)
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="within the 1 s timeout"):
        client.embed_texts(["a"]) if mode == "sync" else asyncio.run(client.aembed_texts(["a"]))
    assert time.monotonic() - started < 4


def test_an_inflating_answer_stops_at_the_cap(monkeypatch):
    monkeypatch.setattr(_flow, "MAX_RESPONSE_BYTES", 1024 * 1024)
    bomb = gzip.compress(b" " * (16 * 1024 * 1024))

    def handler(request):
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, content=bomb
        )

    client = QianfanClient(api_key="k" * 8, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(APIError, match="inflates beyond 1048576 bytes") as caught:
        client.embed_texts(["a"])
    assert caught.value.code == "response_too_large" and caught.value.attempts == 1


# -- property test: exact vectors or typed errors with exact records -----------------------------------

vectors = st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=4, max_size=4)
hostile_values = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.just(10**400),
    st.just(float("nan")),
    st.lists(st.integers(), max_size=3),
    st.just([[[[[]]]]]),
)
answer_kinds = st.sampled_from(
    ["ok", "ok", "ok", "garbled", "status", "missing", "wrong_index", "nested", "hostile_value", "retry_after"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(min_value=1, max_value=40),
    kinds=st.lists(answer_kinds, min_size=1, max_size=12),
    hostile=hostile_values,
    vector=vectors,
)
def test_the_only_outcomes_are_exact_vectors_or_typed_errors_with_exact_records(n, kinds, hostile, vector):
    lock, counter, served = threading.Lock(), [0], []

    def handler(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        with lock:
            kind = kinds[counter[0] % len(kinds)]
            counter[0] += 1
            served.append(kind)
        data = [{"index": i, "embedding": [float(len(t))] + vector[1:]} for i, t in enumerate(texts)]
        if kind == "garbled":
            return httpx.Response(200, content=b'{"data": [')
        if kind == "status":
            return httpx.Response(503, content=b"<html>busy</html>")
        if kind == "missing":
            data = data[:-1]
        if kind == "wrong_index":
            data[0]["index"] = 99
        if kind == "nested":
            return httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000)
        if kind == "hostile_value":
            data[0]["embedding"] = hostile
        if kind == "retry_after":
            return httpx.Response(
                429,
                headers={"retry-after-ms": "1,000"},
                json={"error": {"code": "rpm_rate_limit_exceeded", "message": "x", "type": "rate_limit_exceeded"}},
            )
        payload = json.dumps({"data": data, "usage": {"prompt_tokens": 1, "total_tokens": 1}})  # NaN allowed
        return httpx.Response(200, content=payload.encode(), headers={"Content-Type": "application/json"})

    texts = ["x" * (1 + i % 7) for i in range(n)]
    # limiting off: the 429s of one example would otherwise slow the process-wide limiter that
    # every example shares (same vendor, host, key and model) down to its floor for the next ones
    client = QianfanClient(
        api_key="k" * 8,
        batch_size=4,
        max_retries=2,
        zero_waits=True,
        requests_per_second=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    expected = [[float(len(t))] + vector[1:] for t in texts]
    try:
        result = client.embed_texts(texts)
    except CNEmbeddingsError as error:
        assert sorted(error.embedded + error.not_embedded) == list(range(n))
        assert set(error.failed) <= set(error.not_embedded)
        assert sorted(error.partial_vectors) == error.embedded
        assert all(error.partial_vectors[i] == expected[i] for i in error.embedded)
    else:
        if n == 1 and served[-1] == "hostile_value" and isinstance(hostile, list) and hostile:
            # a lone vector of another length is well formed: with no other vector in the call to
            # compare it with and no dimensions asked for, no client can tell it from the truth
            expected = [[float(x) for x in hostile]]
        assert result == expected


def _gzip_bomb(inflated: int) -> bytes:
    """A gzip body inflating to ``inflated`` bytes, made a megabyte at a time (never held whole)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(inflated // len(block))) + packer.flush()


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_bomb_handed_over_whole_is_refused_within_twice_the_cap(monkeypatch, asynchronous):
    cap = 4 * 1024 * 1024
    monkeypatch.setattr(_flow, "MAX_RESPONSE_BYTES", cap)
    bomb = _gzip_bomb(128 * 1024 * 1024)

    def handler(request):  # streamed, as a socket delivers it (a response built with content= is inflated
        assert request.headers["accept-encoding"] == "gzip, deflate"  # by httpx itself, in the transport)
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, stream=httpx.ByteStream(bomb)
        )

    transport = httpx.MockTransport(handler)
    client = QianfanClient(
        api_key="k" * 8,
        max_retries=0,
        requests_per_second=0,
        http_client=httpx.Client(transport=transport),
        http_async_client=httpx.AsyncClient(transport=transport),
    )
    tracemalloc.start()
    try:
        with pytest.raises(APIError, match="inflates beyond") as caught:
            if asynchronous:
                asyncio.run(client.aembed_texts(["a"]))
            else:
                client.embed_texts(["a"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.code == "response_too_large"
    assert peak < 2 * cap, f"peak {peak / 2**20:.1f} MiB for a {cap / 2**20:.0f} MiB cap"


def test_an_encoding_not_asked_for_is_refused_by_name():
    def handler(request):
        return httpx.Response(200, headers={"Content-Encoding": "br"}, stream=httpx.ByteStream(b"\x0b\x01\x80{}\x03"))

    client = QianfanClient(
        api_key="k" * 8,
        max_retries=3,
        zero_waits=True,
        requests_per_second=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(APIError, match="encoded as 'br', which was not asked for") as caught:
        client.embed_texts(["a"])
    assert caught.value.code == "unsupported_encoding" and caught.value.attempts == 1


def test_a_gzipped_answer_is_read():
    body = gzip.compress(
        json.dumps(
            {"data": [{"index": 0, "embedding": [0.5, 0.25]}], "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        ).encode()
    )

    def handler(request):
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, content=body
        )

    client = QianfanClient(api_key="k" * 8, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert client.embed_texts(["a"]) == [[0.5, 0.25]]
