"""LlamaIndex end to end against the emulator: indexes, multimodal index, Qdrant, ingestion, events."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from llama_index.core import Document, Settings, SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import ImageDocument

from cn_embeddings import ConfigurationError
from llama_index_cn_embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding
from tests._servers import credentials
from tests.cassettes import REPLAY_BASE_URLS, record_mode, use_cassette

TOPICS = [
    "panda bamboo",
    "eiffel tower paris",
    "great wall china",
    "sushi japan",
    "python programming",
    "football world cup",
    "mount everest climbing",
    "coffee espresso",
    "guitar music",
    "rocket launch",
]
CORPUS = [f"document {i}: {TOPICS[i % 10]} note {i}" for i in range(45)]  # larger than any batch

MODELS = [
    (TencentCloudEmbedding, "tencent", "bge-m3"),
    (TencentCloudEmbedding, "tencent", "WeCLIPv2-Base"),
    (QianfanEmbedding, "qianfan", "embedding-v1"),
    (ArkEmbedding, "ark", "doubao-embedding-vision-250615"),
    (ArkEmbedding, "ark", "doubao-embedding-text-240715"),
]


def make(cls, vendor, model, **kw):
    return cls(model_name=model, **credentials(vendor), **kw)


@pytest.fixture(autouse=True)
def _no_default_llm():
    Settings.llm = None
    yield


@pytest.mark.parametrize("cls,vendor,model", MODELS)
def test_vector_store_index_retrieves_sync_and_async(cls, vendor, model):
    embed = make(cls, vendor, model)
    index = VectorStoreIndex.from_documents([Document(text=t) for t in CORPUS], embed_model=embed)
    hit = index.as_retriever(similarity_top_k=1).retrieve("document 17: eiffel tower paris note 17")[0]
    assert hit.node.get_content() == CORPUS[17]
    hits = asyncio.run(index.as_retriever(similarity_top_k=1).aretrieve("document 33: sushi japan note 33"))
    assert hits[0].node.get_content() == CORPUS[33]


def test_async_batches_are_bounded_and_one_request_per_vendor_batch(emulator):
    emulator.reset()
    embed = make(QianfanEmbedding, "qianfan", "embedding-v1", max_concurrency=2)
    vectors = asyncio.run(embed.aget_text_embedding_batch(CORPUS))
    assert len(vectors) == 45 and [s.inputs for s in emulator.seen].count(16) == 2
    assert emulator.requests == 3
    assert embed.client.is_closed  # the loop's client closed when asyncio.run shut its loop down


def test_multimodal_index_text_and_image_queries(tmp_path, images):
    for i, topic in enumerate(TOPICS[:4]):
        (tmp_path / f"t{i}.txt").write_text(f"notes about {topic}")
    documents = SimpleDirectoryReader(str(tmp_path), required_exts=[".txt"]).load_data()
    documents += [ImageDocument(image_path=str(p), metadata={"file_name": p.name}) for p in images]
    embed = make(ArkEmbedding, "ark", "doubao-embedding-vision-250615")
    index = MultiModalVectorStoreIndex.from_documents(documents, embed_model=embed, image_embed_model=embed)
    retriever = index.as_retriever(similarity_top_k=1, image_similarity_top_k=1)
    text_hits = retriever.text_retrieve("notes about sushi japan")
    assert "sushi" in text_hits[0].node.get_content()
    image_hits = retriever.image_to_image_retrieve(str(images[2]))
    assert image_hits[0].node.metadata["file_name"] == images[2].name


def test_tencent_image_hooks_take_paths_and_bytesio(images):
    embed = make(TencentCloudEmbedding, "tencent", "WeCLIPv2-Base")
    from_path = embed.get_image_embedding(str(images[0]))
    from_bytes = embed.get_image_embedding(io.BytesIO(images[0].read_bytes()))
    assert from_path == from_bytes
    batch = asyncio.run(embed.aget_image_embedding_batch([str(p) for p in images]))
    assert batch[0] == from_path and len(batch) == 3


def test_text_only_model_image_hooks_raise(images):
    with pytest.raises(ConfigurationError, match="text-only"):
        make(QianfanEmbedding, "qianfan", "embedding-v1").get_image_embedding(str(images[0]))


def test_qdrant_local_store():
    import qdrant_client
    from llama_index.core import StorageContext
    from llama_index.vector_stores.qdrant import QdrantVectorStore

    store = QdrantVectorStore(client=qdrant_client.QdrantClient(location=":memory:"), collection_name="cn")
    index = VectorStoreIndex.from_documents(
        [Document(text=t) for t in CORPUS[:20]],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=make(ArkEmbedding, "ark", "doubao-embedding-vision-250615", dimensions=1024),
    )
    hit = index.as_retriever(similarity_top_k=1).retrieve("document 12: great wall china note 12")[0]
    assert hit.node.get_content() == CORPUS[12]


def test_ingestion_pipeline():
    embed = make(QianfanEmbedding, "qianfan", "bge-large-zh")
    nodes = IngestionPipeline(transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), embed]).run(
        documents=[Document(text=" ".join(CORPUS))]
    )
    assert len(nodes) > 3 and all(len(n.embedding) == 1024 for n in nodes)


def test_query_instructions_and_instrumentation(emulator):
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent, EmbeddingStartEvent

    class Collect(BaseEventHandler):
        events: list = []

        def handle(self, event, **kwargs):
            self.events.append(type(event).__name__)

    handler = Collect()
    get_dispatcher().add_event_handler(handler)
    counter = TokenCountingHandler()
    embed = make(
        ArkEmbedding,
        "ark",
        "doubao-embedding-vision-250615",
        instructions="DOC",
        query_instructions="QRY",
        callback_manager=CallbackManager([counter]),
    )
    emulator.reset()
    embed.get_text_embedding_batch(["alpha beta", "gamma"])
    embed.get_query_embedding("alpha")
    assert sorted(s.body.get("instructions") for s in emulator.seen) == ["DOC", "DOC", "QRY"]
    assert EmbeddingStartEvent.__name__ in handler.events and EmbeddingEndEvent.__name__ in handler.events
    assert counter.total_embedding_token_count > 0
    assert embed.usage.total_tokens > 0


def test_secrets_absent_and_from_dict_rebuilds_from_env(monkeypatch):
    creds = credentials("ark")
    secret = "ark-distinct-secret-777"
    embed = ArkEmbedding(
        model_name="doubao-embedding-vision-250615", api_key=secret, base_url=creds["base_url"], dimensions=1024
    )
    for text in (embed.to_json(), json.dumps(embed.to_dict()), repr(embed), str(embed)):
        assert secret not in text
    monkeypatch.setenv("ARK_API_KEY", creds["api_key"])
    rebuilt = ArkEmbedding.from_json(embed.to_json())
    assert rebuilt.dimensions == 1024 and len(rebuilt.get_text_embedding("x")) == 1024
    t = TencentCloudEmbedding(secret_id="AKIDdistinct99", secret_key="tc-distinct-secret-99")
    assert "tc-distinct-secret-99" not in t.to_json() and "tc-distinct-secret-99" not in repr(t)


@pytest.mark.parametrize("cls,vendor,model", [MODELS[1], MODELS[2], MODELS[3]])
def test_replays_from_cassettes(cls, vendor, model):
    """The same calls answered from cassettes/<vendor>/llama_index_*.yaml with no server running."""
    if record_mode() == "emulator":
        params = credentials(vendor)
    elif record_mode() == "live":
        params = {}
    else:
        params = {
            "base_url": REPLAY_BASE_URLS[vendor],
            **({"secret_id": "AKIDreplay", "secret_key": "k"} if vendor == "tencent" else {"api_key": "k"}),
        }
    embed = cls(model_name=model, **params)
    with use_cassette(vendor, f"llama_index_{model}"):
        vectors = embed.get_text_embedding_batch(CORPUS[:12])
        query = asyncio.run(embed.aget_query_embedding("document 3: sushi japan note 3"))
    assert len(vectors) == 12 and len({len(v) for v in vectors}) == 1
    best = max(range(12), key=lambda i: sum(a * b for a, b in zip(vectors[i], query)))
    assert best == 3


def test_the_progress_bar_moves_per_request_within_one_llamaindex_batch(emu, monkeypatch):
    """2,000 texts are one LlamaIndex batch here (embed_batch_size is 2,048): LlamaIndex's own bar
    would read 0/2000 until the end. Ours moves as each request is answered."""
    from cn_embeddings import _progress

    steps: list[int] = []
    monkeypatch.setattr(_progress._PlainBar, "update", lambda self, n: steps.append(n))
    emb = QianfanEmbedding(model_name="embedding-v1", **credentials("qianfan"), requests_per_second=0)
    texts = [f"text {i}" for i in range(2000)]
    assert emb.embed_batch_size >= len(texts)
    emb.get_text_embedding_batch(texts, show_progress=True)
    assert sum(steps) == 2000 and len(steps) > 10  # many steps, one LlamaIndex batch
    steps.clear()
    asyncio.run(emb.aget_text_embedding_batch(texts[:300], show_progress=True))
    assert sum(steps) == 300 and len(steps) > 3
