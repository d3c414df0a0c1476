"""Distinctive fake secrets never show up anywhere a user or a log could see them."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from langchain_core.load import dumpd, dumps

from cn_embeddings import ArkClient, CNEmbeddingsError, QianfanClient, TencentCloudClient
from cn_embeddings.testing import Emulator
from langchain_cn_embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings
from llama_index_cn_embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding

SECRETS = {
    "TENCENTCLOUD_SECRET_ID": "AKIDzzSecretIdLeak4242",
    "TENCENTCLOUD_SECRET_KEY": "tcKeyLeakQQ9x8y7",
    "TENCENTCLOUD_SESSION_TOKEN": "stsTokenLeakZZ55",
    "QIANFAN_API_KEY": "bce-v3/ALTAK-qfLeak0001/xyz",
    "ARK_API_KEY": "arkKeyLeak-7777abcd",
}
CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS.values() if s in text]


@pytest.fixture
def secret_env(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def objects(secret_env, emulator):
    urls = {"tencent": emulator.tencent_url, "qianfan": emulator.qianfan_url, "ark": emulator.ark_url}
    return [
        TencentCloudClient(base_url=urls["tencent"]),
        QianfanClient(base_url=urls["qianfan"]),
        ArkClient(base_url=urls["ark"]),
        TencentCloudEmbeddings(base_url=urls["tencent"]),
        QianfanEmbeddings(base_url=urls["qianfan"]),
        ArkEmbeddings(base_url=urls["ark"]),
        TencentCloudEmbedding(base_url=urls["tencent"]),
        QianfanEmbedding(base_url=urls["qianfan"]),
        ArkEmbedding(base_url=urls["ark"]),
    ]


def test_reprs_strs_and_dumps(objects):
    assert len(objects) == 9
    for obj in objects:
        texts = [repr(obj), str(obj)]
        client = getattr(obj, "client", obj)
        texts += [repr(client.auth), repr(client.protocol), repr(vars(client.protocol))]
        if hasattr(obj, "model_dump"):
            texts += [str(obj.model_dump()), obj.model_dump_json()]
        if hasattr(obj, "lc_secrets"):
            texts += [dumps(obj), json.dumps(dumpd(obj))]
        if hasattr(obj, "to_dict"):  # LlamaIndex
            texts += [obj.to_json(), str(obj.to_dict())]
        for text in texts:
            assert leaks(text) == [], (type(obj).__name__, text[:200])


def test_errors_tracebacks_and_logs(objects, caplog, images):
    """Every call fails (the emulator knows other credentials); nothing it says holds a secret."""
    caplog.set_level(logging.DEBUG)
    for name in ("cn_embeddings", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    failures = []
    for obj in objects:
        client = getattr(obj, "client", obj)
        for call in (lambda: client.embed_texts(["hello"]), lambda: asyncio.run(client.aembed_texts(["hello"]))):
            with pytest.raises(CNEmbeddingsError) as info:
                call()
            failures.append(info.value)
    assert len(failures) == 18
    for error in failures:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        assert leaks(text) == [] and leaks(repr(error)) == [] and leaks(str(vars(error))) == []
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in caplog.records)
    assert "HTTP Request" in logged and leaks(logged) == []


def test_vendor_echoing_a_key_is_redacted(secret_env):
    import httpx

    def echo(request):
        key = request.headers["Authorization"].split()[-1]
        return httpx.Response(401, json={"error": {"code": "invalid_iam_token", "message": f"bad key {key}"}})

    client = QianfanClient(http_client=httpx.Client(transport=httpx.MockTransport(echo)))
    with pytest.raises(CNEmbeddingsError) as info:
        client.embed_texts(["x"])
    assert leaks(str(info.value)) == [] and leaks(info.value.vendor_message) == []
    assert "bad key **********" in str(info.value)


def test_cli_output(secret_env):
    with Emulator() as emu:
        env = {
            **os.environ,
            **SECRETS,
            "QIANFAN_BASE_URL": emu.qianfan_url,
            "ARK_BASE_URL": emu.ark_url,
            "TENCENTCLOUD_ES_BASE_URL": emu.tencent_url,
        }
        for provider in ("tencent", "qianfan", "ark"):
            for extra in ([], ["--verbose"]):
                result = subprocess.run(
                    [sys.executable, "-m", "cn_embeddings.cli", *extra, "check", "--provider", provider],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert result.returncode != 0
                assert leaks(result.stdout + result.stderr) == [], result.stderr[-500:]


def test_cassettes_hold_no_credentials():
    files = [p for p in CASSETTES.rglob("*.yaml")]
    assert files
    pattern = re.compile(
        r"Credential=AKID[A-Za-z0-9]{12,}|Bearer (bce-v3/ALTAK-|ark-)[A-Za-z0-9]{8,}|authorization:", re.I
    )
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not pattern.search(text), path
        assert leaks(text) == []
        assert text.startswith("# Recorded") and "emulator" in text.splitlines()[0]


def test_core_secret_prints_stars():
    from cn_embeddings import Secret

    secret = Secret(SECRETS["ARK_API_KEY"])
    assert leaks(repr(secret)) == [] and leaks(str(secret)) == [] and leaks(f"{secret}") == []
    assert secret.get() == SECRETS["ARK_API_KEY"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_key_echoed_back_is_in_no_frame_of_the_traceback(secret_env, mode):
    """The answer is redacted where it is read, so a traceback rendered with every frame's locals
    (as error trackers and ``pytest --showlocals`` do) shows no credential."""
    import httpx

    def echo(request):
        key = request.headers["Authorization"].split()[-1]
        return httpx.Response(401, json={"error": {"code": "invalid_iam_token", "message": f"bad key {key}"}})

    if mode == "sync":
        client = QianfanClient(http_client=httpx.Client(transport=httpx.MockTransport(echo)))
        call = lambda: client.embed_texts(["x"])  # noqa: E731
    else:
        client = QianfanClient(http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(echo)))
        call = lambda: asyncio.run(client.aembed_texts(["x"]))  # noqa: E731
    with pytest.raises(CNEmbeddingsError) as info:
        call()
    rendered = "".join(traceback.TracebackException.from_exception(info.value, capture_locals=True).format())
    assert "bad key" in rendered and leaks(rendered) == []
    held = []  # what each frame of the traceback holds, answers' bodies included (a debugger shows them)
    tb = info.value.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, httpx.Response):
                held.append(value.content.decode("utf-8", "replace"))
            elif isinstance(value, (bytes, bytearray)):
                held.append(bytes(value).decode("utf-8", "replace"))
            elif isinstance(value, str):
                held.append(value)
        tb = tb.tb_next
    assert any("bad key" in text for text in held) and leaks("\n".join(held)) == []
