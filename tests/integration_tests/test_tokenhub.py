"""Tencent TokenHub as a provider of its own, from every entry point, against the emulator."""

from __future__ import annotations

import asyncio

import pytest

from cn_embeddings import AuthenticationError, ConfigurationError, InvalidInputError, TokenHubClient
from cn_embeddings.testing._vectors import embed
from langchain_cn_embeddings import TokenHubEmbeddings, init_embeddings
from llama_index_cn_embeddings import TokenHubEmbedding
from tests._servers import credentials


@pytest.mark.parametrize("model,dim", [("kinfra-text-embedding-0.6b", 1024), ("kinfra-text-embedding-4b", 2560)])
def test_core_sync_and_async(emu, model, dim):
    client = emu.client("tokenhub", model)
    texts = [f"文本 {i}" for i in range(300)]
    vectors = client.embed_texts(texts)
    assert vectors[7] == pytest.approx(embed(model, dim, text=texts[7]), abs=1e-6)
    assert sorted(s.inputs for s in emu.seen) == [44, 128, 128], "128 texts a request"
    assert all(s.body["encoding_format"] == "float" and "dimensions" not in s.body for s in emu.seen)
    assert asyncio.run(client.aembed_texts(texts[:3])) == vectors[:3]


def test_limits_refused_before_the_wire_and_errors_typed(emu):
    client = emu.client("tokenhub")
    with pytest.raises(InvalidInputError, match="2001 characters; kinfra-text-embedding-0.6b accepts at most 2000"):
        client.embed_texts(["ok", "x" * 2001])
    with pytest.raises(ConfigurationError, match="text-only"):
        client.embed_images(["https://x.test/a.png"])
    assert emu.requests == 0
    with pytest.raises(AuthenticationError) as caught:
        emu.client("tokenhub", api_key="th-WRONG-123").embed_texts(["a"])
    assert "th-WRONG-123" not in str(caught.value) and caught.value.vendor == "tokenhub"


def test_frameworks_init_embeddings_and_env(emu, monkeypatch):
    want = emu.client("tokenhub").embed_texts(["天很蓝"])[0]
    assert TokenHubEmbeddings(**credentials("tokenhub")).embed_query("天很蓝") == want
    assert TokenHubEmbedding(**credentials("tokenhub")).get_text_embedding("天很蓝") == want
    monkeypatch.setenv("TOKENHUB_API_KEY", credentials("tokenhub")["api_key"])
    monkeypatch.setenv("TOKENHUB_BASE_URL", credentials("tokenhub")["base_url"])
    assert init_embeddings("tokenhub:kinfra-text-embedding-0.6b").embed_query("天很蓝") == want
    assert TokenHubClient().embed_texts(["天很蓝"])[0] == want
