"""The emulator is test infrastructure users run: malformed requests get the vendor's envelope,
hang-ups print nothing, silent connections are dropped, and its log stays bounded."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from cn_embeddings.testing import Emulator, _server


def raw_request(emu: Emulator, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1000000000000"])
def test_a_bad_content_length_gets_the_vendors_envelope(length, capfd):
    with Emulator() as emu:
        answer = raw_request(
            emu,
            b"POST /v2/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer "
            + emu.credentials.qianfan_api_key.encode()
            + b"\r\nContent-Length: "
            + length
            + b"\r\n\r\n",
        )
    assert answer.startswith(b"HTTP/1.1 400") and b'"invalid_argument"' in answer
    assert "Traceback" not in capfd.readouterr().err


def test_hostile_bodies_get_the_vendors_envelope_and_no_traceback(capfd):
    with Emulator() as emu:
        headers = {"Authorization": f"Bearer {emu.credentials.ark_api_key}"}
        nested = httpx.post(
            emu.ark_url + "/embeddings/multimodal", content=b"[" * 50_000 + b"]" * 50_000, headers=headers
        )
        tencent = emu.client("tencent")
        request = tencent.protocol.build_request(tencent.validate(["x"]))
        plain = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        with httpx.Client() as http:
            weird = http.send(
                httpx.Request(
                    "POST",
                    request.url,
                    headers=plain,
                    content=json.dumps({"ModelName": "WeCLIPv2-Base", "ImageData": 5}).encode(),
                ),
                auth=tencent.auth,
            )
        tencent.close()
    assert nested.status_code == 400 and nested.json()["error"]["code"] == "InvalidParameter"
    assert weird.status_code == 200 and "Error" in weird.json()["Response"]
    assert "Traceback" not in capfd.readouterr().err


def test_hang_ups_print_nothing_and_silent_connections_are_dropped(capfd, monkeypatch):
    monkeypatch.setattr(_server, "HANDLER_TIMEOUT", 0.5)
    with Emulator(port=0) as emu:
        port = emu.port
        silent = socket.create_connection(("127.0.0.1", port))
        for _ in range(20):  # clients that send a request and hang up before the answer
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(b"POST /v2/embeddings HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
        silent.settimeout(5)
        assert silent.recv(1) == b""  # the server closed it after its timeout
        silent.close()
    assert "Traceback" not in capfd.readouterr().err


def test_the_log_keeps_large_bodies_by_hash_only(monkeypatch):
    monkeypatch.setattr(_server, "SEEN_BODY_MAX", 500)
    with Emulator() as emu:
        emu.client("qianfan").embed_texts(["x" * 900, "y"])
        emu.client("qianfan", batch_size=1).embed_texts(["z" * 990])
    assert emu.seen[0].body is None and emu.seen[0].body_sha256 and emu.seen[0].model == "embedding-v1"
    assert emu.seen[0].inputs == 2 and emu.seen[-1].body is None
    assert emu.seen.maxlen == _server.SEEN_MAX


def test_many_connections_at_once_are_all_served_without_a_fault():
    """64 clients opening their connections at the same moment: the listen backlog was
    socketserver's 5, and the kernel reset the rest (retries in every large call on the CLI
    emulator, and failures with max_retries=0)."""
    import threading

    with Emulator() as emu:
        gate = threading.Barrier(64)
        statuses: list[int] = []

        def post() -> None:
            with httpx.Client(timeout=30) as client:  # a fresh connection each
                gate.wait()
                response = client.post(
                    emu.qianfan_url + "/embeddings",
                    headers={"Authorization": f"Bearer {emu.credentials.qianfan_api_key}"},
                    json={"model": "embedding-v1", "input": ["x"]},
                )
                statuses.append(response.status_code)

        threads = [threading.Thread(target=post) for _ in range(64)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert statuses == [200] * 64


def test_a_refusal_comes_at_once_or_after_the_latency_and_tells_the_quota():
    import time

    from cn_embeddings.testing import Faults

    for refuse_ms, least in ((0.0, 0.0), (None, 1.0)):
        # a moving window: a fixed one of 60 s let the second request through at a minute's turn
        faults = Faults(latency_ms=1000, qps=1, quota_kind="moving", quota_window=60, refuse_ms=refuse_ms)
        faults.ratelimit_headers = True
        with Emulator(faults=faults) as emu, httpx.Client(timeout=30) as client:
            headers = {"Authorization": f"Bearer {emu.credentials.qianfan_api_key}"}
            body = {"model": "embedding-v1", "input": ["x"]}
            assert client.post(emu.qianfan_url + "/embeddings", headers=headers, json=body).status_code == 200
            started = time.monotonic()
            refused = client.post(emu.qianfan_url + "/embeddings", headers=headers, json=body)
            took = time.monotonic() - started
        assert refused.status_code == 429 and refused.headers["X-Ratelimit-Limit-Requests"] == "1"
        assert took >= least and (refuse_ms is None or took < 0.5)
