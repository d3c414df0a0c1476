"""Every value the first pass accepts can be written, in every output: nothing is paid for and then
lost. A value no output can write is refused before any request, naming the row and the column."""

from __future__ import annotations

import json

import pytest

from cn_embeddings import ConfigurationError, InvalidInputError
from cn_embeddings.bulk import Source, embed_corpus, open_sink
from cn_embeddings.testing import Emulator


@pytest.fixture
def emulator():
    with Emulator() as emu:
        yield emu


def _read(out, tmp_path):
    if out.suffix == ".jsonl":
        return {row["id"]: row.get("fields", row) for row in map(json.loads, out.read_text().splitlines())}
    if out.suffix == ".parquet":
        import pyarrow.parquet as pq

        return {row["id"]: row for row in pq.read_table(out).to_pylist()}
    import lancedb

    return {row["id"]: row for row in lancedb.connect(str(tmp_path)).open_table(out.stem).to_arrow().to_pylist()}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".lance"])
def test_a_lone_surrogate_in_another_column_is_refused_before_any_request(tmp_path, emulator, suffix):
    """It was paid for on every run (the row's whole batch) and written on none."""
    corpus = tmp_path / "c.jsonl"
    rows = [{"id": f"d{i}", "text": f"t{i}", "source": "s"} for i in range(20)]
    rows[7]["source"] = "bad \ud800"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    with pytest.raises(InvalidInputError, match=r"c.jsonl:8: column 'source' holds text that is not valid Unicode"):
        embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))
    assert emulator.requests == 0


@pytest.mark.parametrize("suffix", [".parquet", ".lance"])
def test_integers_beyond_int64_are_written_whole_as_json_text(tmp_path, emulator, suffix):
    """An int above int64, and one beyond a float's range in a mixed column, were paid for and then
    ended the job in a traceback, on every run."""
    corpus = tmp_path / "c.jsonl"
    rows = [{"id": "a", "text": "x", "big": 2**70, "mixed": 1.5}, {"id": "b", "text": "y", "big": 1, "mixed": 10**400}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    summary = embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))
    assert summary.written == 2
    written = _read(out, tmp_path)
    assert json.loads(written["a"]["big"]) == 2**70 and json.loads(written["b"]["mixed"]) == 10**400


def test_a_dotted_column_name_is_refused_for_lancedb_before_any_request(tmp_path, emulator):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "x", "a.b": 1}) + "\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"LanceDB cannot name a column 'a.b'.*nothing was sent"):
        embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(tmp_path / "out.lance"))
    assert emulator.requests == 0


def test_a_resume_with_another_extra_body_is_refused(tmp_path, emulator):
    """Ark instructions passed through extra_body were not recorded: a resume mixed embedding spaces."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("one\ntwo\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    model = "doubao-embedding-vision-251215"
    first = {"instructions": "Target: documents"}
    embed_corpus(emulator.client("ark", model, extra_body=first), Source(files=[corpus]), open_sink(out))
    with open(corpus, "a", encoding="utf-8") as fh:
        fh.write("three\n")
    sent = emulator.requests
    other = emulator.client("ark", model, extra_body={"instructions": "Target: passages"})
    with pytest.raises(ConfigurationError, match=r"extra_body=.*nothing was sent"):
        embed_corpus(other, Source(files=[corpus]), open_sink(out))
    assert emulator.requests == sent
    again = embed_corpus(emulator.client("ark", model, extra_body=first), Source(files=[corpus]), open_sink(out))
    assert again.written == 1


def test_an_existing_output_that_is_not_utf8_is_a_one_line_error(tmp_path, emulator):
    corpus = tmp_path / "c.txt"
    corpus.write_text("one\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"id": "x", "hash": "h", "model": "embedding-v1", "vector": [1]}\n\xff\xfe not text\n')
    with pytest.raises(ConfigurationError, match=r"out.jsonl:2 is not UTF-8 text"):
        embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))
    assert emulator.requests == 0


@pytest.mark.parametrize("suffix", [".parquet", ".lance", ".qdrant"])
def test_csv_columns_are_typed_as_json_lines_would_give_them(tmp_path, emulator, suffix):
    corpus = tmp_path / "c.csv"
    corpus.write_text("id,text,page,score,ok,zip\nd1,a,3,0.5,true,02134\nd2,b,12,,false,00501\n", encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))
    if suffix == ".qdrant":
        from qdrant_client import QdrantClient

        client = QdrantClient(path=str(tmp_path))
        try:
            points = client.scroll("out", limit=10)[0]
        finally:
            client.close()
        d1 = next(p.payload for p in points if p.payload["id"] == "d1")
        assert d1["metadata"]["page"] == 3
    else:
        d1 = _read(out, tmp_path)["d1"]
    assert d1["page"] == 3 and d1["score"] == 0.5 and d1["ok"] is True and d1["zip"] == "02134"


def test_both_frameworks_filter_the_qdrant_output_on_a_flat_column(tmp_path, emulator):
    """LlamaIndex saw the columns under metadata["metadata"], and a filter on source found nothing."""
    from langchain_qdrant import QdrantVectorStore as LangChainQdrant
    from llama_index.core import VectorStoreIndex
    from llama_index.core.vector_stores import ExactMatchFilter, MetadataFilters
    from llama_index.vector_stores.qdrant import QdrantVectorStore as LlamaQdrant
    from qdrant_client import QdrantClient, models

    from langchain_cn_embeddings import QianfanEmbeddings
    from llama_index_cn_embeddings import QianfanEmbedding

    corpus = tmp_path / "c.jsonl"
    rows = [{"id": f"d{i}", "text": f"passage {i}", "source": "a.pdf" if i < 5 else "b.pdf"} for i in range(10)]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(tmp_path / "q" / "docs.qdrant"))
    credentials = {"api_key": emulator.credentials.qianfan_api_key, "base_url": emulator.qianfan_url}
    qdrant = QdrantClient(path=str(tmp_path / "q"))
    try:
        store = LlamaQdrant(client=qdrant, collection_name="docs", dense_vector_name="dense", text_key="text")
        index = VectorStoreIndex.from_vector_store(store, embed_model=QianfanEmbedding(**credentials))
        only_b = MetadataFilters(filters=[ExactMatchFilter(key="source", value="b.pdf")])
        hits = index.as_retriever(similarity_top_k=10, filters=only_b).retrieve("passage 2")
        assert len(hits) == 5 and {hit.node.metadata["source"] for hit in hits} == {"b.pdf"}
        lc = LangChainQdrant(
            client=qdrant,
            collection_name="docs",
            embedding=QianfanEmbeddings(**credentials),
            vector_name="dense",
            content_payload_key="text",
        )
        where = models.Filter(
            must=[models.FieldCondition(key="metadata.source", match=models.MatchValue(value="b.pdf"))]
        )
        docs = lc.similarity_search("passage 2", k=10, filter=where)
        assert len(docs) == 5 and {doc.metadata["source"] for doc in docs} == {"b.pdf"}
    finally:
        qdrant.close()
