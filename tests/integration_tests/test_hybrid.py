"""Ark sparse vectors in both frameworks' hybrid stores, and token-level multi-vectors, against the
emulator: one request per text, exact values, the right document back."""

from __future__ import annotations

import base64
import struct

import httpx
import pytest
import zstandard
from qdrant_client import QdrantClient, models

from cn_embeddings import APIError, ArkClient, ConfigurationError
from cn_embeddings.testing import _vectors

MODEL = "doubao-embedding-vision-251215"
DOCS = [
    "熊猫吃竹子 pandas eat bamboo",
    "the stock market fell sharply today",
    "how to bake sourdough bread at home",
    "火山引擎的向量化服务 embedding service",
    "rainy weather in Shanghai this week",
]
QUERY = "what do pandas eat"


def expected_sparse(text: str, dim: int = 1024) -> dict[int, float]:
    """The emulator's documented sparse answer: every coordinate above 0.1 in magnitude."""
    vector = _vectors.embed(MODEL, dim, text=text)
    return {i: round(abs(v), 4) for i, v in enumerate(vector) if abs(v) > 0.1}


def expected_multi(text: str) -> list[list[float]]:
    rows = [_vectors.embed(MODEL, 2048, text=token) for token in _vectors.tokens(text)]
    return [list(struct.unpack("<2048e", struct.pack("<2048e", *row))) for row in rows]


# -- multi-vectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["zstd", None])
def test_multi_vectors_are_exact_and_asked_for_as_the_go_sdk_does(emu, compression):
    client = emu.client("ark", MODEL, multi_embedding=True, multi_embedding_compression=compression)
    result = client.embed(DOCS[:2])
    assert all(row.typecode == "f" for rows in result.multi_vectors for row in rows), "compact float32 rows"
    assert [[row.tolist() for row in rows] for rows in result.multi_vectors] == [expected_multi(t) for t in DOCS[:2]]
    body = emu.seen[-1].body
    assert body["multi_embedding"] == (
        {"type": "enabled", "compression": "zstd"} if compression else {"type": "enabled"}
    )
    assert len(result.vectors[0]) == 2048  # the dense vector still comes back


def test_multi_vectors_are_refused_before_sending_where_they_cannot_work(emu):
    with pytest.raises(ConfigurationError, match="-251215 or later"):
        emu.client("ark", "doubao-embedding-vision-250615", multi_embedding=True)
    with pytest.raises(ConfigurationError, match="'zstd' or None"):
        emu.client("ark", MODEL, multi_embedding=True, multi_embedding_compression="blosc2")
    with pytest.raises(ConfigurationError, match="multimodal endpoint"):
        emu.client("ark", "doubao-embedding-text-240715", multi_embedding=True)
    assert emu.requests == 0


def _answer(multi: object) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        vector = base64.b64encode(struct.pack("<4f", 1, 0, 0, 0)).decode()
        return httpx.Response(
            200,
            json={
                "data": {"embedding": vector, "multi_embedding": multi},
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "multi, message",
    [
        (base64.b64encode(zstandard.ZstdCompressor().compress(b"\0" * (2 * 2048 * 3 + 2))).decode(), "whole rows"),
        (base64.b64encode(b"not zstd at all").decode(), "not a valid zstd frame"),
        ("%%%", "not valid base64"),
        ([[0.5] * 100], "not 2048-wide token vectors: the answer may be per-modality vectors"),
        (["AAAA", [0.5] * 2048], "may be per-modality vectors"),  # arkruntime's list[list[float] | str]
        (None, "multi_embedding missing"),
    ],
)
def test_hostile_multi_vector_answers_are_typed_errors(multi, message):
    client = ArkClient(
        MODEL, api_key="k" * 20, multi_embedding=True, max_retries=0, http_client=httpx.Client(transport=_answer(multi))
    )
    with pytest.raises(APIError, match=message) as caught:
        client.embed(["a"])
    assert caught.value.code == "malformed_response" and caught.value.not_embedded == [0]


def test_a_zstd_bomb_stops_at_the_cap(monkeypatch):
    from cn_embeddings.vendors import ark_multi

    monkeypatch.setattr(ark_multi, "MULTI_MAX_ROWS", 8)
    bomb = base64.b64encode(zstandard.ZstdCompressor().compress(b"\0" * (2048 * 2 * 64))).decode()
    client = ArkClient(
        MODEL,
        api_key="k" * 20,
        multi_embedding=True,
        max_retries=3,
        zero_waits=True,
        http_client=httpx.Client(transport=_answer(bomb)),
    )
    with pytest.raises(APIError, match="at most 8 are decoded") as caught:
        client.embed(["a"])
    assert caught.value.attempts == 1, "an answer over the cap is not asked for (and inflated) again"


def test_a_qdrant_multivector_collection_with_maxsim(emu):
    client = emu.client("ark", MODEL, multi_embedding=True)
    docs = client.embed(DOCS).multi_vectors
    qdrant = QdrantClient(":memory:")
    qdrant.create_collection(
        "late",
        vectors_config=models.VectorParams(
            size=2048,
            distance=models.Distance.COSINE,
            multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
        ),
    )
    qdrant.upsert(
        "late",
        [
            models.PointStruct(id=i, vector=[row.tolist() for row in rows], payload={"text": DOCS[i]})
            for i, rows in enumerate(docs)
        ],
    )
    query = [row.tolist() for row in client.embed([QUERY]).multi_vectors[0]]
    hits = qdrant.query_points("late", query=query, limit=2).points
    assert hits[0].payload["text"] == DOCS[0]


# -- sparse: one request per text, both frameworks -------------------------------------------------


def test_sparse_values_are_exact_and_as_sparse_sends_nothing_more(emu):
    from langchain_cn_embeddings import ArkEmbeddings

    dense = ArkEmbeddings(model=MODEL, **emu.settings("ark"), sparse=True, dimensions=1024)
    sparse = dense.as_sparse()
    dense.embed_documents(DOCS)
    assert emu.requests == len(DOCS)
    vectors = sparse.embed_documents(DOCS)
    assert emu.requests == len(DOCS)
    for text, vector in zip(DOCS, vectors, strict=True):
        assert dict(zip(vector.indices, vector.values, strict=True)) == pytest.approx(expected_sparse(text))
    again = sparse.embed_documents(DOCS[:1])  # handed out once: asked again, it is requested again
    assert emu.requests == len(DOCS) + 1 and again[0].indices == vectors[0].indices


def test_the_docs_langchain_hybrid_snippet_sends_a_request_per_text_and_query(emu, monkeypatch, capsys):
    """tests/docs/test_snippets.py runs every snippet; this one also counts what it sends."""
    import pathlib
    import re

    page = (pathlib.Path(__file__).parents[2] / "docs" / "how-to" / "hybrid-search.md").read_text(encoding="utf-8")
    (snippet,) = [
        block for block in re.findall(r"```python\n(.*?)```", page, flags=re.S) if "RetrievalMode.HYBRID" in block
    ]
    monkeypatch.setenv("ARK_API_KEY", emu.credentials.ark_api_key)
    monkeypatch.setenv("ARK_BASE_URL", emu.ark_url)
    exec(compile(snippet, "hybrid-search.md", "exec"), {})  # noqa: S102 - the documentation's own code
    # a request per text (3), per query (1), and the one langchain-qdrant makes to learn the size
    assert capsys.readouterr().out == "红色的帽子\n" and emu.requests == 5


def test_a_repeated_text_costs_one_sparse_request(emu):
    """Four texts, one of them three times: two requests, not six (sync and async alike)."""
    import asyncio

    client = emu.client("ark", MODEL, sparse=True, dimensions=1024)
    texts = ["重复的文本", "另一段", "重复的文本", "重复的文本"]
    assert client.embed_sparse(texts) == [pytest.approx(expected_sparse(t)) for t in texts]
    assert emu.requests == 2
    assert asyncio.run(client.aembed_sparse(texts)) == [pytest.approx(expected_sparse(t)) for t in texts]
    assert emu.requests == 4


def test_the_sparse_is_bounded_and_falls_back_to_requests(emu, monkeypatch):
    from cn_embeddings import _client

    client = emu.client("ark", MODEL, sparse=True, dimensions=1024)
    monkeypatch.setattr(client.sparse_cache, "max_entries", 2)
    client.embed(DOCS)
    assert len(client.sparse_cache) == 2
    vectors = client.embed_sparse(DOCS)
    assert emu.requests == len(DOCS) + 3  # the three evicted texts were asked again
    assert vectors == [pytest.approx(expected_sparse(t)) for t in DOCS]
    with pytest.raises(ConfigurationError, match="sparse=True"):
        emu.client("ark", MODEL).embed_sparse(["x"])
    assert _client  # the cache lives on the client's runtime, never pickled


def test_langchain_qdrant_hybrid_store_n_requests_for_n_texts(emu):
    from langchain_qdrant import QdrantVectorStore, RetrievalMode

    from langchain_cn_embeddings import ArkEmbeddings

    dense = ArkEmbeddings(
        model=MODEL,
        **emu.settings("ark"),
        sparse=True,
        dimensions=1024,
        query_instructions="Target_modality: text. Query:",
    )
    qdrant = QdrantClient(":memory:")
    qdrant.create_collection(
        "docs",
        vectors_config={"dense": models.VectorParams(size=1024, distance=models.Distance.COSINE)},
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
    )
    store = QdrantVectorStore(
        qdrant,
        "docs",
        embedding=dense,
        sparse_embedding=dense.as_sparse(),
        retrieval_mode=RetrievalMode.HYBRID,
        vector_name="dense",
        sparse_vector_name="sparse",
    )
    before = emu.requests  # langchain-qdrant embeds "dummy_text" once to check the collection's size
    store.add_texts(DOCS)
    assert emu.requests - before == len(DOCS)
    hits = store.similarity_search(QUERY, k=1)
    assert hits[0].page_content == DOCS[0]
    assert emu.requests - before == len(DOCS) + 1
    assert emu.seen[-1].body["instructions"] == "Target_modality: text. Query:"
    assert emu.seen[-1].body["sparse_embedding"] == {"type": "enabled"}


def test_llama_index_qdrant_hybrid_index_n_requests_for_n_nodes(emu):
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.qdrant import QdrantVectorStore

    from llama_index_cn_embeddings import ArkEmbedding

    dense = ArkEmbedding(model_name=MODEL, **emu.settings("ark"), sparse=True, dimensions=1024)
    sparse = dense.as_sparse()
    store = QdrantVectorStore(
        client=QdrantClient(":memory:"),
        collection_name="docs",
        enable_hybrid=True,
        sparse_doc_fn=sparse.sparse_doc_fn,
        sparse_query_fn=sparse.sparse_query_fn,
    )
    index = VectorStoreIndex(
        [TextNode(text=t) for t in DOCS],
        embed_model=dense,
        storage_context=StorageContext.from_defaults(vector_store=store),
    )
    assert emu.requests == len(DOCS)
    retriever = index.as_retriever(vector_store_query_mode="hybrid", similarity_top_k=1, sparse_top_k=2)
    assert retriever.retrieve(QUERY)[0].node.get_content() == DOCS[0]
    assert emu.requests == len(DOCS) + 1


async def test_llama_index_sparse_embedding_sync_and_async(emu):
    from llama_index_cn_embeddings import ArkEmbedding
    from llama_index_cn_embeddings.sparse import ArkSparseEmbedding

    alone = ArkSparseEmbedding(model_name=MODEL, **emu.settings("ark"), dimensions=1024)
    assert alone.get_text_embedding(DOCS[1]) == pytest.approx(expected_sparse(DOCS[1]))
    assert await alone.aget_text_embedding_batch(DOCS[:2]) == [pytest.approx(expected_sparse(t)) for t in DOCS[:2]]
    assert await alone.aget_query_embedding(QUERY) == pytest.approx(expected_sparse(QUERY))
    await alone.dense.aclose()  # the connections of this test's event loop, closed with it
    with pytest.raises(ConfigurationError, match="sparse=True"):
        ArkSparseEmbedding(ArkEmbedding(model_name=MODEL, **emu.settings("ark")))


# -- Milvus Lite (installs and runs here) ------------------------------------------------------------


def test_langchain_milvus_sparse_interface(emu):
    """langchain-milvus 0.3.3 cannot open a Milvus Lite store with pymilvus 2.6 (langchain-milvus
    issue #130), and 0.4.0 needs pymilvus 3, which llama-index-vector-stores-milvus refuses; so the
    LangChain side is checked against langchain-milvus's interface, the LlamaIndex side live below."""
    from langchain_milvus.utils.sparse import BaseSparseEmbedding

    from langchain_cn_embeddings import ArkEmbeddings

    dense = ArkEmbeddings(model=MODEL, **emu.settings("ark"), sparse=True, dimensions=1024)
    milvus = dense.as_sparse().for_milvus()
    assert isinstance(milvus, BaseSparseEmbedding)
    dense.embed_documents(DOCS[:2])
    assert milvus.embed_documents(DOCS[:2]) == [pytest.approx(expected_sparse(t)) for t in DOCS[:2]]
    assert emu.requests == 2
    assert milvus.embed_query(QUERY) == pytest.approx(expected_sparse(QUERY))


def test_llama_index_milvus_lite_hybrid(emu, tmp_path):
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQueryMode
    from llama_index.vector_stores.milvus import MilvusVectorStore

    from llama_index_cn_embeddings import ArkEmbedding

    dense = ArkEmbedding(model_name=MODEL, **emu.settings("ark"), sparse=True, dimensions=1024)
    store = MilvusVectorStore(
        uri=str(tmp_path / "li.db"),
        dim=1024,
        overwrite=True,
        enable_sparse=True,
        sparse_embedding_function=dense.as_sparse().as_milvus_function(),
        hybrid_ranker="RRFRanker",
    )
    index = VectorStoreIndex(
        [TextNode(text=t) for t in DOCS],
        embed_model=dense,
        storage_context=StorageContext.from_defaults(vector_store=store),
    )
    assert emu.requests == len(DOCS)
    retriever = index.as_retriever(vector_store_query_mode=VectorStoreQueryMode.HYBRID, similarity_top_k=1)
    assert retriever.retrieve(QUERY)[0].node.get_content() == DOCS[0]
    assert emu.requests == len(DOCS) + 1
