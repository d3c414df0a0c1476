"""long_inputs='split' from every entry point, against the emulator: the core, the bulk job, the
command line and both frameworks give the same vector, the length-weighted average of the pieces."""

from __future__ import annotations

import json
import math

import pytest

from cn_embeddings.bulk import Source, embed_corpus, open_sink
from langchain_cn_embeddings import QianfanEmbeddings
from llama_index_cn_embeddings import QianfanEmbedding
from tests._servers import credentials
from tests.integration_tests.test_cli import emulator_process, read_jsonl, run  # noqa: F401 - a fixture

LONG = "".join(chr(0x4E00 + (i * 7) % 2000) for i in range(2500))  # embedding-v1: 1,000 characters a text
PIECES = [LONG[:1000], LONG[1000:2000], LONG[2000:]]


def expected(client) -> list[float]:
    """The pieces embedded one by one, averaged by their lengths, L2-normalised, by hand."""
    vectors = client.embed_texts(PIECES)
    total = [sum(len(p) * v[k] for p, v in zip(PIECES, vectors, strict=True)) for k in range(len(vectors[0]))]
    norm = math.sqrt(sum(x * x for x in total))
    return [x / norm for x in total]


def test_core_and_bulk_job_split_alike(emu, tmp_path):
    client = emu.client("qianfan", "embedding-v1", long_inputs="split")
    want = expected(client)
    emu.reset()
    assert client.embed_texts([LONG])[0] == pytest.approx(want)
    assert sorted(len(text) for s in emu.seen for text in s.body["input"]) == [500, 1000, 1000]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        json.dumps({"id": "long", "text": LONG}) + "\n" + json.dumps({"id": "short", "text": "短"}) + "\n"
    )
    summary = embed_corpus(client, Source(files=[corpus]), open_sink(tmp_path / "out.jsonl"))
    assert summary.written == 2
    rows = {row["id"]: row for row in read_jsonl(tmp_path / "out.jsonl")}
    assert rows["long"]["vector"] == pytest.approx(want)


def test_bulk_pieces_share_requests_and_span_them(emu, tmp_path):
    """A split entry's pieces are packed with the other inputs (no request of their own), may be
    answered in different requests, and the entry is written once, when its last piece is."""
    client = emu.client("qianfan", "embedding-v1", long_inputs="split", batch_size=2)
    want = expected(client)
    emu.reset()
    rows = [
        {"id": "a", "text": "短"},
        {"id": "long1", "text": LONG},
        {"id": "long2", "text": LONG},
        {"id": "b", "text": "乙"},
    ]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = embed_corpus(client, Source(files=[corpus]), open_sink(tmp_path / "out.jsonl"))
    assert summary.written == 4 and summary.usage.requests == 4  # 8 inputs sent, 2 a request
    assert [s.inputs for s in emu.seen] == [2, 2, 2, 2]
    written = {row["id"]: row for row in read_jsonl(tmp_path / "out.jsonl")}
    assert written["long1"]["vector"] == pytest.approx(want) and written["long2"]["vector"] == pytest.approx(want)
    assert written["a"]["text"] == "短" and written["long1"]["text"] == LONG


def test_command_line_splits(emulator_process, emu, tmp_path):  # noqa: F811
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "long", "text": LONG}) + "\n")
    out = tmp_path / "out.jsonl"
    base = ["embed", "--provider", "qianfan", "--model", "embedding-v1", "--input", str(corpus)]
    refused = run([*base, "--output", str(tmp_path / "refused.jsonl")], emulator_process)
    assert refused.returncode != 0 and "2500 characters" in refused.stderr and "split" in refused.stderr
    done = run([*base, "--output", str(out), "--long-inputs", "split"], emulator_process)
    assert done.returncode == 0, done.stderr
    assert read_jsonl(out)[0]["vector"] == pytest.approx(expected(emu.client("qianfan", "embedding-v1")))


def test_both_frameworks_split(emu):
    want = expected(emu.client("qianfan", "embedding-v1"))
    langchain = QianfanEmbeddings(model="embedding-v1", long_inputs="split", **credentials("qianfan"))
    assert langchain.embed_documents([LONG])[0] == pytest.approx(want)
    assert langchain.long_inputs == "split"
    llama = QianfanEmbedding(model_name="embedding-v1", long_inputs="split", **credentials("qianfan"))
    assert llama.get_text_embedding(LONG) == pytest.approx(want)
