"""LangChain end to end: vector stores, images in Chroma, an LCEL retrieval chain, serialization."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document
from langchain_core.load import dumpd, dumps, loads
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from cn_embeddings import ConfigurationError, InvalidInputError
from langchain_cn_embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings
from tests._servers import credentials

CORPUS = [
    "北京是中国的首都",
    "The Eiffel Tower is in Paris",
    "熊猫 吃 竹子",
    "Python is a programming language",
    "长城 位于 中国 北方",
    "Sushi comes from Japan",
]

MODELS = [
    (TencentCloudEmbeddings, "tencent", "bge-m3"),
    (TencentCloudEmbeddings, "tencent", "WeCLIPv2-Base"),
    (QianfanEmbeddings, "qianfan", "embedding-v1"),
    (ArkEmbeddings, "ark", "doubao-embedding-vision-250615"),
]


def make(cls, vendor, model, **kw):
    return cls(model=model, **credentials(vendor), **kw)


@pytest.mark.parametrize("cls,vendor,model", MODELS)
def test_in_memory_vector_store_finds_the_right_document(cls, vendor, model):
    store = InMemoryVectorStore.from_texts(CORPUS, make(cls, vendor, model))
    assert store.similarity_search("Paris Eiffel Tower", k=1)[0].page_content == CORPUS[1]
    assert store.similarity_search("熊猫 竹子", k=1)[0].page_content == CORPUS[2]
    found = asyncio.run(store.asimilarity_search("Python programming", k=1))
    assert found[0].page_content == CORPUS[3]


@pytest.mark.parametrize("cls,vendor,model", MODELS[1:2] + MODELS[3:])
def test_chroma_add_images_with_text_and_image_queries(cls, vendor, model, images, tmp_path):
    import chromadb
    from langchain_chroma import Chroma

    client = chromadb.EphemeralClient(settings=chromadb.config.Settings(anonymized_telemetry=False))
    store = Chroma(
        collection_name=f"c_{vendor}_{tmp_path.name}"[:60], embedding_function=make(cls, vendor, model), client=client
    )
    uris = [str(p) for p in images]
    store.add_images(uris=uris, metadatas=[{"name": p.name} for p in images])
    store.add_texts(["a red square picture", "some unrelated words"])
    hit = store.similarity_search_by_image(uri=uris[1], k=1)[0]
    assert hit.metadata["name"] == images[1].name
    assert store.similarity_search("unrelated words", k=1)[0].page_content == "some unrelated words"


def test_lcel_retrieval_chain_runs_end_to_end():
    emb = make(QianfanEmbeddings, "qianfan", "bge-large-zh")
    retriever = InMemoryVectorStore.from_documents([Document(page_content=t) for t in CORPUS], emb).as_retriever(
        search_kwargs={"k": 1}
    )
    chain = {
        "context": retriever | RunnableLambda(lambda docs: docs[0].page_content),
        "question": RunnablePassthrough(),
    } | RunnableLambda(lambda x: f"{x['question']} -> {x['context']}")
    assert chain.invoke("长城 中国") == "长城 中国 -> 长城 位于 中国 北方"
    assert asyncio.run(chain.ainvoke("Sushi Japan")) == "Sushi Japan -> Sushi comes from Japan"


def test_ark_query_instructions_go_to_embed_query_only(emulator):
    emulator.reset()
    emb = make(ArkEmbeddings, "ark", "doubao-embedding-vision-250615", instructions="DOC", query_instructions="QUERY")
    emb.embed_documents(["a"])
    emb.embed_query("a")
    asyncio.run(emb.aembed_query("b"))
    assert [s.body.get("instructions") for s in emulator.seen] == ["DOC", "QUERY", "QUERY"]


def test_multimodal_entry_points(images):
    ark = make(ArkEmbeddings, "ark", "doubao-embedding-vision-250615")
    fused, text, image = ark.embed_multimodal([{"text": "red", "image": str(images[0])}, "red", {"image": images[0]}])
    assert len({tuple(fused), tuple(text), tuple(image)}) == 3
    assert asyncio.run(ark.aembed_image([str(images[0])])) == [image]
    tencent = make(TencentCloudEmbeddings, "tencent", "WeCLIPv2-Base")
    with pytest.raises(InvalidInputError, match="input 0: .*cannot fuse"):
        tencent.embed_multimodal([{"text": "red", "image": str(images[0])}])
    with pytest.raises(ConfigurationError, match="text-only"):
        make(QianfanEmbeddings, "qianfan", "embedding-v1").embed_image([str(images[0])])


def test_progress_bar_advances_per_input(capsys):
    emb = make(QianfanEmbeddings, "qianfan", "embedding-v1", show_progress_bar=True)
    emb.embed_documents([f"t{i}" for i in range(40)])
    assert "40/40" in capsys.readouterr().err


@pytest.mark.parametrize(
    "cls,kwargs,field,env",
    [
        (ArkEmbeddings, {"api_key": "sk-ark-distinct-1"}, "api_key", "ARK_API_KEY"),
        (ArkEmbeddings, {"ark_api_key": "sk-ark-distinct-1"}, "api_key", "ARK_API_KEY"),
        (QianfanEmbeddings, {"api_key": "sk-qf-distinct-2"}, "api_key", "QIANFAN_API_KEY"),
        (QianfanEmbeddings, {"qianfan_api_key": "sk-qf-distinct-2"}, "api_key", "QIANFAN_API_KEY"),
        (
            TencentCloudEmbeddings,
            {"secret_id": "AKIDdistinct3", "secret_key": "tc-distinct-3"},
            "secret_key",
            "TENCENTCLOUD_SECRET_KEY",
        ),
        (
            TencentCloudEmbeddings,
            {"tencentcloud_secret_id": "AKIDdistinct3", "tencentcloud_secret_key": "tc-distinct-3"},
            "secret_key",
            "TENCENTCLOUD_SECRET_KEY",
        ),
    ],
)
def test_aliases_set_the_key_and_dumps_hold_no_secret(cls, kwargs, field, env, monkeypatch):
    for var in ("ARK_API_KEY", "QIANFAN_API_KEY", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    emb = cls(**kwargs)
    secret = (
        kwargs.get("api_key")
        or kwargs.get("ark_api_key")
        or kwargs.get("qianfan_api_key")
        or kwargs.get("secret_key")
        or kwargs.get("tencentcloud_secret_key")
    )
    assert getattr(emb, field).get_secret_value() == secret
    text = dumps(emb)
    assert secret not in text and secret not in repr(emb) and secret not in str(emb.model_dump())
    assert dumpd(emb)["kwargs"][field] == {"lc": 1, "type": "secret", "id": [env]}
    rebuilt = loads(
        text,
        secrets_map={env: secret, "TENCENTCLOUD_SECRET_ID": "AKIDdistinct3"},
        valid_namespaces=["langchain_cn_embeddings"],
        allowed_objects=[cls],
    )
    assert getattr(rebuilt, field).get_secret_value() == secret


def test_loaded_object_works_with_credentials_from_the_environment(monkeypatch):
    creds = credentials("ark")
    emb = ArkEmbeddings(model="doubao-embedding-vision-250615", dimensions=1024, **creds)
    text = dumps(emb)
    monkeypatch.setenv("ARK_API_KEY", creds["api_key"])
    rebuilt = loads(
        text, secrets_from_env=True, valid_namespaces=["langchain_cn_embeddings"], allowed_objects=[ArkEmbeddings]
    )
    assert rebuilt.embed_query("x") == emb.embed_query("x") and len(emb.embed_query("x")) == 1024
