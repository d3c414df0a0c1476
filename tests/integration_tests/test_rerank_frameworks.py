"""The rerankers inside each framework's retrieval pipeline, against the emulator."""

from __future__ import annotations

import asyncio

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.load import dumps, loads
from langchain_core.vectorstores import InMemoryVectorStore
from llama_index.core import Document as LlamaDocument
from llama_index.core import VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

import langchain_cn_embeddings as lc
import llama_index_cn_embeddings as li
from cn_embeddings.testing import relevance
from tests._servers import credentials

CORPUS = [
    "大熊猫 生活 在 四川 的 竹林 里",
    "The Eiffel Tower is in Paris",
    "giant pandas eat bamboo every day",
    "Python is a programming language",
    "bamboo grows fast",
    "pandas and red pandas are not related",
]
QUERY = "what do giant pandas eat"
ORDER = sorted(range(len(CORPUS)), key=lambda i: (-relevance(QUERY, CORPUS[i]), i))
RERANKERS = [
    ("qianfan", lc.QianfanRerank, li.QianfanRerank),
    ("tencent", lc.TencentCloudRerank, li.TencentCloudRerank),
    ("volcengine", lc.VolcengineRerank, li.VolcengineRerank),
]


@pytest.mark.parametrize("vendor,lc_cls,_", RERANKERS)
def test_langchain_contextual_compression_retriever(emu, vendor, lc_cls, _):
    store = InMemoryVectorStore.from_texts(
        CORPUS, lc.QianfanEmbeddings(**credentials("qianfan")), metadatas=[{"n": i} for i in range(len(CORPUS))]
    )
    compressor = lc_cls(**credentials(vendor), top_n=2)
    retriever = ContextualCompressionRetriever(
        base_compressor=compressor, base_retriever=store.as_retriever(search_kwargs={"k": 6})
    )
    found = retriever.invoke(QUERY)
    assert [d.metadata["n"] for d in found] == ORDER[:2]
    assert found[0].metadata["relevance_score"] == relevance(QUERY, CORPUS[ORDER[0]])
    assert [d.metadata["n"] for d in asyncio.run(retriever.ainvoke(QUERY))] == ORDER[:2]


@pytest.mark.parametrize("vendor,lc_cls,_", RERANKERS)
def test_langchain_copies_and_leaves_inputs_untouched_and_serializes_without_secrets(emu, vendor, lc_cls, _):
    documents = [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(CORPUS)]
    compressor = lc_cls(**credentials(vendor), top_n=None)
    ranked = compressor.compress_documents(documents, QUERY)
    assert [d.metadata["n"] for d in ranked] == ORDER
    assert all("relevance_score" not in d.metadata for d in documents), "the inputs are left untouched"
    assert compressor.compress_documents([], QUERY) == [] and emu.requests == 1
    assert compressor.rerank(CORPUS, QUERY, top_n=1) == [
        {"index": ORDER[0], "relevance_score": relevance(QUERY, CORPUS[ORDER[0]])}
    ]
    text = dumps(compressor)
    secrets = [v for k, v in credentials(vendor).items() if k != "base_url"]
    assert not any(secret in text for secret in secrets)
    secrets_map = dict(zip([v for k, v in compressor.lc_secrets.items() if k != "token"], secrets, strict=True))
    rebuilt = loads(
        text, secrets_map=secrets_map, valid_namespaces=["langchain_cn_embeddings"], allowed_objects=[lc_cls]
    )
    assert type(rebuilt) is lc_cls and rebuilt.compress_documents(documents, QUERY) == ranked


class Events(BaseEventHandler):
    seen: list = []

    def handle(self, event) -> None:
        self.seen.append(type(event).__name__)


@pytest.mark.parametrize("vendor,_,li_cls", RERANKERS)
def test_llama_index_query_pipeline_with_events(emu, vendor, _, li_cls):
    debug = LlamaDebugHandler()
    handler = Events()
    get_dispatcher().add_event_handler(handler)
    postprocessor = li_cls(**credentials(vendor), top_n=2, callback_manager=CallbackManager([debug]))
    index = VectorStoreIndex.from_documents(
        [LlamaDocument(text=t, metadata={"n": i}) for i, t in enumerate(CORPUS)],
        embed_model=li.QianfanEmbedding(**credentials("qianfan")),
    )
    nodes = index.as_retriever(similarity_top_k=6).retrieve(QUERY)
    ranked = postprocessor.postprocess_nodes(nodes, query_bundle=QueryBundle(QUERY))
    assert [n.node.metadata["n"] for n in ranked] == ORDER[:2]
    expected_text = nodes[0].node.get_content(metadata_mode=MetadataMode.EMBED)
    assert "n: " in expected_text, "node text goes with its metadata, as LlamaIndex's own rerankers send it"
    assert ranked[0].score == relevance(
        QUERY,
        next(n for n in nodes if n.node.metadata["n"] == ORDER[0]).node.get_content(metadata_mode=MetadataMode.EMBED),
    )
    assert debug.get_event_pairs(CBEventType.RERANKING)
    assert {"ReRankStartEvent", "ReRankEndEvent"} <= set(handler.seen)
    again = asyncio.run(postprocessor.apostprocess_nodes(nodes, query_bundle=QueryBundle(QUERY)))
    assert [n.node.node_id for n in again] == [n.node.node_id for n in ranked]


def test_llama_index_refuses_bad_input_before_the_wire(emu):
    postprocessor = li.QianfanRerank(**credentials("qianfan"))
    with pytest.raises(Exception, match="document is empty"):
        postprocessor.postprocess_nodes([NodeWithScore(node=TextNode(text=" "))], query_str="q")
    assert emu.requests == 0
