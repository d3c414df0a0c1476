"""The bulk job loses and mixes nothing: one writer per output, ids that can be written, CSV read as
CSV, an input that grows while the job runs, a damaged journal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading

import pytest

from cn_embeddings import ConfigurationError, InvalidInputError
from cn_embeddings.bulk import Source, embed_corpus, open_sink
from cn_embeddings.bulk.sinks import Row
from cn_embeddings.testing import Emulator


@pytest.fixture
def emulator():
    with Emulator() as emu:
        yield emu


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".lance", ".qdrant"])
def test_a_second_job_on_one_output_is_refused_at_once_naming_the_holder(tmp_path, suffix):
    """Qdrant's local mode ended in qdrant-client's RuntimeError traceback: the lock is now taken
    before any output is opened."""
    out = tmp_path / f"out{suffix}"
    first = open_sink(out)
    try:
        with pytest.raises(ConfigurationError, match=r"in use by another job \(process \d+\)"):
            open_sink(out)
        holder = textwrap.dedent(f"""
            from cn_embeddings.bulk import open_sink
            try:
                open_sink({str(out)!r})
            except Exception as error:
                print(type(error).__name__, error)
        """)
        other = subprocess.run([sys.executable, "-c", holder], capture_output=True, text=True, check=True)
        assert other.stdout.startswith("ConfigurationError") and "in use by another job" in other.stdout
    finally:
        first.close()
    open_sink(out).close()  # free again once the first job is done


def test_an_id_that_cannot_be_written_is_refused_in_the_first_pass(tmp_path, emulator):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "ok", "text": "a"}\n{"id": "bad-\\ud800", "text": "b"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with pytest.raises(InvalidInputError, match=r"c.jsonl:2.*'bad-\\ud800'.*cannot be written") as caught:
        embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))
    assert caught.value.rule == "id" and emulator.requests == 0 and not out.exists()


def test_a_csv_cell_keeps_its_line_breaks(tmp_path, emulator):
    corpus = tmp_path / "c.csv"
    corpus.write_bytes(b'id,text\r\nm,"first line\nsecond line"\r\nn,plain\r\n')
    out = tmp_path / "out.jsonl"
    embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))
    sent = sorted(text for seen in emulator.seen for text in seen.body["input"])
    assert sent == ["first line\nsecond line", "plain"]
    assert [row["id"] for row in _lines(out)] == ["m", "n"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"id,text,text\r\na,b,c\r\n", r"c.csv: column 'text' is named twice"),
        (b"id,text\r\na,b\r\nc,d,e\r\n", r"c.csv:3: 3 fields, the header has 2"),
        (b"id,text\r\na,b\r\nc\r\n", r"c.csv:3: 1 field, the header has 2"),
    ],
)
def test_a_repeated_header_or_a_ragged_row_is_a_one_line_error(tmp_path, emulator, content, message):
    corpus = tmp_path / "c.csv"
    corpus.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message):
        embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(tmp_path / "o.jsonl"))
    assert emulator.requests == 0


def test_an_input_that_grows_during_the_run_sends_only_what_the_first_pass_checked(tmp_path, emulator):
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"line {i}\n" for i in range(20)), encoding="utf-8")

    class Growing(Source):
        def __iter__(self):
            yield from super().__iter__()
            with open(corpus, "a", encoding="utf-8") as fh:  # once read and checked, before any sending
                fh.write("".join(f"late {i}\n" for i in range(5)))

    out = tmp_path / "out.jsonl"
    summary = embed_corpus(emulator.client("qianfan"), Growing(files=[corpus]), open_sink(out))
    ids = [row["id"] for row in _lines(out)]
    assert summary.written == 20 and len(ids) == len(set(ids)) == 20
    again = embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))  # a resume takes the rest
    assert again.skipped == 20 and again.written == 5


def test_a_damaged_journal_line_is_a_one_line_error_saying_how_to_recover(tmp_path):
    out = tmp_path / "out.parquet"
    out.mkdir()
    journal = open_sink(out / "_journal.jsonl")  # a journal as a killed job leaves it (module docstring)
    journal.write([Row(f"r{i}", f"h{i}", [0.5, 0.25]) for i in range(6)], "embedding-v1")
    journal.close()
    path = out / "_journal.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3][: len(lines[3]) // 2] + "\n"  # a torn line in the middle
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"_journal.jsonl:4 is damaged.*delete") as caught:
        open_sink(out).existing()
    assert "\n" not in str(caught.value)


# -- a LanceDB table as the output --------------------------------------------------------------


def test_a_corpus_goes_into_a_lancedb_table_that_answers_a_vector_search_and_resumes(tmp_path, emulator):
    import lancedb

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": f"d{i}", "text": f"document number {i}"}) + "\n" for i in range(30)),
        encoding="utf-8",
    )
    out = tmp_path / "stores" / "docs.lance"  # the database folder does not exist yet
    client = emulator.client("qianfan")
    first = embed_corpus(client, Source(files=[corpus]), open_sink(out))
    assert first.written == 30
    table = lancedb.connect(str(tmp_path / "stores")).open_table("docs")
    assert table.count_rows() == 30 and table.schema.field("vector").type.list_size == 384
    query = client.embed_texts(["document number 7"])[0]
    (best,) = table.search(query).limit(1).to_list()
    assert best["id"] == "d7" and best["text"] == "document number 7" and best["model"] == "embedding-v1"
    assert best["vector"] == pytest.approx(query, abs=1e-6)  # float32: the vector the vendor answered

    with open(corpus, "a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps({"id": f"d{i}", "text": f"document number {i}"}) + "\n" for i in range(30, 40)))
    requests = emulator.requests
    again = embed_corpus(client, Source(files=[corpus]), open_sink(out))
    assert (again.skipped, again.written) == (30, 10) and emulator.requests - requests == 1
    table = lancedb.connect(str(tmp_path / "stores")).open_table("docs")  # its latest version
    ids = table.search().select(["id"]).limit(None).to_arrow().column("id").to_pylist()
    assert sorted(ids) == sorted(f"d{i}" for i in range(40))  # every id exactly once


def test_a_batch_written_twice_into_lancedb_is_still_one_row_per_id(tmp_path):
    from cn_embeddings.bulk.sinks import Row

    sink = open_sink(tmp_path / "db" / "t.lance")
    rows = [Row(f"r{i}", f"h{i}", [float(i), 1.0], None, f"text {i}") for i in range(4)]
    sink.write(rows, "m")
    sink.write(rows[2:], "m")  # a kill after the write, before the next run read it back
    existing = sink.existing()
    assert sorted(existing.rows) == [(f"r{i}", f"h{i}", "m") for i in range(4)] and existing.dimension == 2
    sink.close()


# -- a Qdrant collection as the output ----------------------------------------------------------


def test_a_corpus_goes_into_qdrant_and_a_langchain_retriever_reads_it_without_embedding_it_again(tmp_path, emulator):
    from langchain_qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from cn_embeddings.bulk.qdrant import point_id
    from langchain_cn_embeddings import QianfanEmbeddings

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"id": f"d{i}", "text": f"passage about topic {i}", "source": "guide.pdf", "page": i}) + "\n"
            for i in range(25)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "qdrant" / "docs.qdrant"  # local mode: the collection docs in the folder qdrant/
    client = emulator.client("qianfan")
    assert embed_corpus(client, Source(files=[corpus]), open_sink(out)).written == 25
    again = embed_corpus(client, Source(files=[corpus]), open_sink(out))
    assert (again.skipped, again.written) == (25, 0)
    sent = emulator.requests

    store = QdrantVectorStore(
        client=QdrantClient(path=str(tmp_path / "qdrant")),
        collection_name="docs",
        embedding=QianfanEmbeddings(api_key=emulator.credentials.qianfan_api_key, base_url=emulator.qianfan_url),
        vector_name="dense",
        content_payload_key="text",
    )
    try:
        (best,) = store.similarity_search("passage about topic 12", k=1)
        assert best.page_content == "passage about topic 12"
        assert best.metadata == {
            "id": "d12",
            "source": "guide.pdf",
            "page": 12,
            "_id": point_id("d12"),
            "_collection_name": "docs",
        }
        asked = [text for seen in list(emulator.seen)[sent:] for text in seen.body["input"]]
        assert "passage about topic 12" in asked  # the query (and the store's own dimension probe),
        assert not any(text.startswith("passage about topic ") for text in asked[:-1])  # never the corpus
        (point,) = store.client.retrieve("docs", [point_id("d3")], with_vectors=True)
        node = json.loads(point.payload["_node_content"])
        assert point.payload == {
            "source": "guide.pdf",  # flat for filters, under metadata for LangChain, in the node for LlamaIndex
            "page": 3,
            "id": "d3",
            "text": "passage about topic 3",
            "hash": point.payload["hash"],
            "model": "embedding-v1",
            "metadata": {"source": "guide.pdf", "page": 3, "id": "d3"},
            "_node_content": point.payload["_node_content"],
            "_node_type": "TextNode",
        }
        assert node["metadata"] == {"source": "guide.pdf", "page": 3} and node["text"] == "passage about topic 3"
        assert point.vector["dense"] == pytest.approx(client.embed_texts(["passage about topic 3"])[0], abs=1e-6)
    finally:
        store.client.close()


# -- checks before anything is sent -------------------------------------------------------------


@pytest.mark.parametrize("output", ["x.csv", "x.txt", "x"])
def test_an_output_of_no_known_kind_is_refused(tmp_path, output):
    with pytest.raises(ConfigurationError, match=r"an output is X.jsonl, X.parquet"):
        open_sink(tmp_path / output)


def test_a_device_or_a_pipe_is_refused_as_an_output(tmp_path):
    import os

    with pytest.raises(ConfigurationError):
        open_sink("/dev/zero")
    fifo = tmp_path / "x.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(ConfigurationError, match="not a regular file"):
        open_sink(fifo)


def test_a_named_id_column_missing_from_a_file_is_refused(tmp_path, emulator):
    from cn_embeddings.bulk import Columns

    corpus = tmp_path / "c.csv"
    corpus.write_text("key,text\r\na,b\r\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"c.csv: no id column 'doc_id'"):
        embed_corpus(
            emulator.client("qianfan"),
            Source(files=[corpus], columns=Columns(id="doc_id", id_required=True)),
            open_sink(tmp_path / "o.jsonl"),
        )
    rows = tmp_path / "r.jsonl"
    rows.write_text('{"id": {"k": 1}, "text": "a"}\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"r.jsonl:1: the id is a dict"):
        embed_corpus(emulator.client("qianfan"), Source(files=[rows]), open_sink(tmp_path / "o.jsonl"))
    assert emulator.requests == 0


def test_the_cli_refuses_a_part_size_below_one_and_names_the_failure_kind_in_its_hint(tmp_path, emulator):
    import os

    corpus = tmp_path / "c.txt"
    corpus.write_text("a\nb\n", encoding="utf-8")
    cli = [sys.executable, "-m", "cn_embeddings.cli", "embed", "--provider", "qianfan", "--input", str(corpus)]
    env = {**os.environ, "QIANFAN_BASE_URL": emulator.qianfan_url, "QIANFAN_API_KEY": "not-the-key"}
    zero = subprocess.run(
        [*cli, "--output", str(tmp_path / "o.parquet"), "--rows-per-part", "0"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert zero.returncode == 2 and "--rows-per-part: expected a whole number of at least 1" in zero.stderr
    rejected = subprocess.run(
        [*cli, "--output", str(tmp_path / "o.jsonl")], capture_output=True, text=True, env=env, check=False
    )
    assert rejected.returncode != 0 and "the credentials were rejected; fix them" in rejected.stderr
    assert "run the same command again to resume" not in rejected.stderr


def test_json_lines_rows_carry_the_inputs_other_fields_and_still_resume(tmp_path, emulator):
    corpus = tmp_path / "c.jsonl"
    rows = [{"id": f"d{i}", "text": f"text {i}", "title": f"标题 {i}", "tags": ["a", i]} for i in range(5)]
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))
    written = {row["id"]: row for row in _lines(out)}
    assert {rid: row["fields"] for rid, row in written.items()} == {
        r["id"]: {"title": r["title"], "tags": r["tags"]} for r in rows
    }
    again = embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))
    assert (again.skipped, again.written) == (5, 0)


def test_a_resume_with_settings_that_change_the_vectors_is_refused_before_any_request(tmp_path, emulator):
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"line {i}\n" for i in range(6)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    model = "doubao-embedding-vision-251215"
    embed_corpus(
        emulator.client("ark", model, instructions="Target: documents"), Source(files=[corpus]), open_sink(out)
    )
    with open(corpus, "a", encoding="utf-8") as fh:
        fh.write("line 6\n")
    sent = emulator.requests
    for changed in ({"instructions": "Target: passages"}, {"dimensions": 1024}, {"sparse": True}, {}):
        with pytest.raises(ConfigurationError, match=r"written with other settings \(.*nothing was sent"):
            embed_corpus(emulator.client("ark", model, **changed), Source(files=[corpus]), open_sink(out))
    assert emulator.requests == sent
    again = embed_corpus(
        emulator.client("ark", model, instructions="Target: documents"), Source(files=[corpus]), open_sink(out)
    )
    assert (again.skipped, again.written) == (6, 1)


def test_image_ids_do_not_depend_on_how_the_folder_was_spelled(tmp_path, emulator, monkeypatch):
    from tests.conftest import png_bytes

    folder = tmp_path / "photos"
    (folder / "2024").mkdir(parents=True)
    for i in range(3):
        (folder / ("2024" if i else "") / f"{i}.png").write_bytes(png_bytes(color=(i * 60, 10, 10)))
    out = tmp_path / "out.jsonl"
    client = emulator.client("ark")
    monkeypatch.chdir(tmp_path)
    first = embed_corpus(client, Source(images=["photos"]), open_sink(out))
    assert first.written == 3
    assert {row["id"] for row in _lines(out)} == {"photos/0.png", "photos/2024/1.png", "photos/2024/2.png"}
    monkeypatch.chdir(folder / "2024")
    again = embed_corpus(client, Source(images=[folder.resolve()]), open_sink(out))  # absolute, from elsewhere
    assert (again.written, again.skipped, emulator.requests) == (0, 3, 3)


def test_part_numbers_never_wrap_and_parts_read_in_number_order(tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "out.parquet"
    sink = open_sink(out, rows_per_part=1)
    sink.existing()
    sink.write([Row("a", "h1", [1.0, 0.0])], "m")
    sink.close()
    (out / "part-00000.parquet").rename(out / "part-99999.parquet")  # as after 100,000 parts
    sink = open_sink(out, rows_per_part=1)
    assert [rid for rid, _, _ in sink.existing().rows] == ["a"]
    sink.write([Row("b", "h2", [0.0, 1.0])], "m")
    sink.write([Row("c", "h3", [1.0, 1.0])], "m")
    sink.close()
    names = sorted(p.name for p in out.glob("part-*.parquet"))
    assert names == ["part-100000.parquet", "part-100001.parquet", "part-99999.parquet"]  # nothing overwritten
    sink = open_sink(out)
    assert [rid for rid, _, _ in sink.existing().rows] == ["a", "b", "c"]
    sink.close()
    assert sorted(pq.read_table(out).column("id").to_pylist()) == ["a", "b", "c"]


def test_a_corrupt_parquet_input_is_a_one_line_error_naming_the_file(tmp_path, emulator):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1" + b"\x00" * 40 + b"PAR1")
    with pytest.raises(InvalidInputError, match=r"bad.parquet: not a readable Parquet file") as caught:
        embed_corpus(emulator.client("qianfan"), Source(files=[bad]), open_sink(tmp_path / "o.jsonl"))
    assert caught.value.rule == "parquet" and emulator.requests == 0


def test_the_cli_takes_none_where_its_help_offers_it(tmp_path, emulator):
    from cn_embeddings.cli import build_parser, options_from_args

    args = build_parser().parse_args(["embed", "--provider", "ark", "--text", "x", "--output", "o.jsonl"])
    assert "timeout" not in options_from_args(args, "ark")  # not given: the declared 60 s
    args = build_parser().parse_args(["check", "--provider", "ark", "--timeout", "None"])
    assert options_from_args(args, "ark") == {"timeout": None}
    args = build_parser().parse_args(["check", "--provider", "ark", "--multi-embedding-compression", "none"])
    assert options_from_args(args, "ark") == {"multi_embedding_compression": None}


def test_ctrl_c_and_a_closed_stdout_say_what_was_written_and_what_to_do(tmp_path, emulator):
    import os
    import signal
    import time

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"text {i}" for i in range(4000)), encoding="utf-8")
    env = {**os.environ, **emulator.environment()}
    cli = [sys.executable, "-m", "cn_embeddings.cli", "embed", "--provider", "qianfan", "--input", str(corpus)]
    job = subprocess.Popen([*cli, "--output", str(tmp_path / "o.jsonl"), "--rps", "20"], env=env,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(2.5)
    job.send_signal(signal.SIGINT)
    said = job.communicate(timeout=60)[1].strip().splitlines()[-1]
    written = len(_lines(tmp_path / "o.jsonl"))
    assert job.returncode == 130 and 0 < written < 4000
    assert said == (
        f"interrupted: {written} rows written, {4000 - written} inputs not embedded yet; run the same command "
        "again to resume (rows already written are skipped)"
    )
    piped = subprocess.run(
        f"{' '.join(cli)} --output - | head -c 10 > /dev/null; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert piped.returncode == 2
    assert "stdout was closed after" in piped.stderr and "nothing resumes from stdout" in piped.stderr
    assert "resume" not in piped.stderr.split("nothing resumes")[0]
    assert "Exception ignored" not in piped.stderr


class _Stuck:
    """An output whose third write never ends (a store that stopped answering), until released."""

    def __init__(self, sink):
        self.sink, self.released, self.stuck, self.rows = sink, threading.Event(), [], []

    def __getattr__(self, name):
        return getattr(self.sink, name)

    def write(self, rows, model):
        if len(self.rows) >= 2 * 16 and not self.released.is_set():
            self.stuck.append([row.id for row in rows])
            self.released.wait()
        self.sink.write(rows, model)
        self.rows.extend(row.id for row in rows)


def test_a_second_ctrl_c_stops_within_seconds_while_the_output_hangs_and_names_what_was_paid(tmp_path, emulator):
    import _thread
    import time

    from cn_embeddings.bulk import Summary

    texts = [f"text {i}" for i in range(2000)]
    sink = _Stuck(open_sink(tmp_path / "o.jsonl"))
    summary, interrupts = Summary(), []

    def press():  # Ctrl-C once the output hangs, again 1 s later; release it after 20 s whatever happened
        while not sink.stuck:
            time.sleep(0.01)
        for _ in range(2):
            time.sleep(1)
            interrupts.append(time.monotonic())
            _thread.interrupt_main()
        time.sleep(18)
        sink.released.set()

    threading.Thread(target=press, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        embed_corpus(emulator.client("qianfan", max_concurrency=4), Source(texts=texts), sink, summary=summary)
    stopped = time.monotonic() - interrupts[-1]
    written, count = list(sink.rows), summary.written
    sink.released.set()  # the write left behind ends; the output, left open, is closed here
    for thread in threading.enumerate():
        if thread.name.startswith("cn-embeddings_"):
            thread.join(10)
    sink.close()
    assert sink.rows == written + sink.stuck[0]  # once stopped, no batch waiting for the output writes
    assert len(interrupts) == 2 and stopped < 6, stopped  # STOP_WITHIN (3 s) and a margin; never 18 s
    assert summary.left_writing
    named = summary.answered_not_written
    assert set(sink.stuck[0]) <= set(named)  # the batch whose write hung was paid for: it is named
    assert not set(named) & set(written) and len(named) > len(sink.stuck[0])  # nothing named was written
    assert count == len(written) == 32


def test_the_cli_ends_at_the_second_ctrl_c_though_its_stdout_is_never_read(tmp_path, emulator):
    import signal
    import time

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"text {i}" for i in range(4000)), encoding="utf-8")
    cli = [sys.executable, "-m", "cn_embeddings.cli", "embed", "--provider", "qianfan", "--input", str(corpus)]
    unread, stdout = os.pipe()  # a reader that stopped reading: the pipe fills, the write blocks
    with open(tmp_path / "err", "w") as stderr:
        job = subprocess.Popen([*cli, "--output", "-"], env={**os.environ, **emulator.environment()}, stdout=stdout,
                               stderr=stderr)  # fmt: skip
    os.close(stdout)
    try:
        time.sleep(4)
        job.send_signal(signal.SIGINT)
        time.sleep(1)
        assert job.poll() is None  # the first Ctrl-C waits for the write, which never ends
        job.send_signal(signal.SIGINT)
        second = time.monotonic()
        job.wait(timeout=30)
        stopped = time.monotonic() - second
    finally:
        job.kill()
        os.close(unread)
    said = (tmp_path / "err").read_text().strip().splitlines()[-1]
    assert job.returncode == 130 and stopped < 6, (job.returncode, stopped)
    assert re.search(r"; (\d+) of them were answered \(and paid for\) but not written: '[^']+'", said), said
    assert said.endswith("left as it was; nothing resumes from stdout: write to a file (--output X.jsonl) to resume")


def test_parquet_parts_say_which_vendor_model_dimension_and_settings_made_them(tmp_path, emulator):
    import pyarrow.parquet as pq

    out = tmp_path / "out.parquet"
    client = emulator.client("ark", dimensions=1024, instructions="Instruction: represent the passage")
    embed_corpus(client, Source(texts=["天很蓝", "海"]), open_sink(out))
    meta = {k.decode(): v.decode() for k, v in pq.read_schema(next(out.glob("part-*.parquet"))).metadata.items()}
    assert meta["cn_embeddings.vendor"] == "ark" and meta["cn_embeddings.dimension"] == "1024"
    assert meta["cn_embeddings.model"] == "doubao-embedding-vision-251215"
    settings = json.loads(meta["cn_embeddings.settings"])
    assert settings["instructions"] == "Instruction: represent the passage" and settings["dimensions"] == 1024


def test_a_llamaindex_retriever_reads_the_qdrant_output_without_embedding_the_corpus_again(tmp_path, emulator):
    from llama_index.core import VectorStoreIndex
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from llama_index_cn_embeddings import QianfanEmbedding

    corpus = tmp_path / "c.jsonl"
    rows = [{"id": f"d{i}", "text": f"passage about topic {i}", "source": "guide.pdf"} for i in range(20)]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(tmp_path / "q" / "docs.qdrant"))
    sent = emulator.requests
    qdrant = QdrantClient(path=str(tmp_path / "q"))
    try:
        store = QdrantVectorStore(client=qdrant, collection_name="docs", dense_vector_name="dense", text_key="text")
        embed_model = QianfanEmbedding(api_key=emulator.credentials.qianfan_api_key, base_url=emulator.qianfan_url)
        index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
        (best,) = index.as_retriever(similarity_top_k=1).retrieve("passage about topic 7")
        assert best.get_content() == "passage about topic 7"
        assert emulator.requests == sent + 1  # the query alone
        # what LlamaIndex sends rerankers and LLMs: the corpus's columns once, none of the job's
        # bookkeeping (it read the payload's top level: "hash: 9c7b...\nmodel: ...\nmetadata: {...}")
        from llama_index.core.schema import MetadataMode

        assert best.node.metadata == {"source": "guide.pdf"}
        for mode in (MetadataMode.EMBED, MetadataMode.LLM):
            text = best.node.get_content(metadata_mode=mode)
            assert text.count("guide.pdf") == 1 and "hash" not in text and "model" not in text, text
        from llama_index.core import PromptTemplate
        from llama_index.core.llms import MockLLM

        prompts: list[str] = []
        llm = MockLLM()
        template = PromptTemplate("{context_str}\n{query_str}")
        engine = index.as_query_engine(llm=llm, similarity_top_k=2, text_qa_template=template)
        llm_complete = type(llm).complete
        type(llm).complete = lambda self, prompt, **kw: (prompts.append(prompt), llm_complete(self, prompt, **kw))[1]
        try:
            engine.query("passage about topic 7")
        finally:
            type(llm).complete = llm_complete
        assert prompts and all("hash:" not in p and "model:" not in p and "metadata:" not in p for p in prompts)
    finally:
        qdrant.close()


def _corpus_with_fields(path, n=10, page=lambda i: i):
    rows = [
        {"id": f"d{i}", "text": f"passage {i}", "source": "guide.pdf", "page": page(i), "score": [1, 0.5][i % 2],
         "tags": ["a", str(i)], "note": None if i % 3 else f"note {i}"}
        for i in range(n)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize("suffix", [".parquet", ".lance"])
def test_typed_outputs_carry_the_inputs_other_columns_and_refuse_a_changed_one(tmp_path, emulator, suffix):
    import pyarrow as pa
    import pyarrow.parquet as pq

    corpus = tmp_path / "c.jsonl"
    _corpus_with_fields(corpus)
    out = tmp_path / f"out{suffix}"
    client = emulator.client("qianfan")
    embed_corpus(client, Source(files=[corpus]), open_sink(out, rows_per_part=4))
    if suffix == ".parquet":
        table = pq.read_table(out)
    else:
        import lancedb

        table = lancedb.connect(str(tmp_path)).open_table("out").to_arrow()
    schema = {f.name: f.type for f in table.schema}
    assert schema["source"] == pa.string() and schema["page"] == pa.int64() and schema["score"] == pa.float64()
    assert schema["tags"] == pa.string() and schema["note"] == pa.string()  # a list as JSON text; all-null
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["d3"]["page"] == 3 and rows["d3"]["score"] == 0.5 and json.loads(rows["d3"]["tags"]) == ["a", "3"]
    assert rows["d3"]["note"] == "note 3" and rows["d4"]["note"] is None and rows["d4"]["text"] == "passage 4"
    sent = emulator.requests
    _corpus_with_fields(corpus, n=12, page=lambda i: f"p{i}")  # grown, and page is now text
    with pytest.raises(ConfigurationError, match=r"other input columns \(changed: page \(int64 there, string now\)"):
        embed_corpus(client, Source(files=[corpus]), open_sink(out))
    assert emulator.requests == sent


def test_a_leftover_journal_becomes_a_part_with_the_runs_columns(tmp_path, emulator):
    import pyarrow as pa
    import pyarrow.parquet as pq

    corpus = tmp_path / "c.jsonl"
    _corpus_with_fields(corpus, n=6)
    out = tmp_path / "out.parquet"
    killed = textwrap.dedent(f"""
        import os
        from cn_embeddings.bulk import Source, open_sink
        from cn_embeddings.bulk.job import _Entry, embed_corpus
        from cn_embeddings.bulk.parquet import ParquetSink
        from cn_embeddings.testing import Emulator

        ParquetSink.close = lambda self: os._exit(0)  # killed before the run's last part is written
        with Emulator() as emu:
            embed_corpus(emu.client("qianfan"), Source(files=[{str(corpus)!r}]), open_sink({str(out)!r}))
    """)
    subprocess.run([sys.executable, "-c", killed], check=True, timeout=60)
    assert len(_lines(out / "_journal.jsonl")) == 6 and not list(out.glob("part-*.parquet"))
    _corpus_with_fields(corpus, n=8)  # two more rows since
    again = embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(out))
    assert (again.skipped, again.written) == (6, 2)
    table = pq.read_table(out)
    assert table.num_rows == 8 and table.schema.field("page").type == pa.int64()
    assert sorted(table.column("page").to_pylist()) == list(range(8)) and not (out / "_journal.jsonl").exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".lance", ".qdrant"])
def test_multi_vectors_asked_for_are_written_in_every_output(tmp_path, emulator, suffix):
    client = emulator.client("ark", multi_embedding=True, multi_embedding_compression=None)
    texts = ["熊猫吃竹子", "the stock market fell"]
    expected = client.embed(texts).multi_vectors
    out = tmp_path / "store" / f"out{suffix}" if suffix in (".lance", ".qdrant") else tmp_path / f"out{suffix}"
    embed_corpus(client, Source(files=[_jsonl(tmp_path, texts)]), open_sink(out))
    if suffix == ".jsonl":
        got = {r["id"]: r["multi_vectors"] for r in _lines(out)}
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        got = {r["id"]: r["multi_vectors"] for r in pq.read_table(out).to_pylist()}
    elif suffix == ".lance":
        import lancedb

        table = lancedb.connect(str(tmp_path / "store")).open_table("out")
        assert str(table.schema.field("multi_vectors").type) == "list<item: fixed_size_list<item: float>[2048]>"
        got = {r["id"]: r["multi_vectors"] for r in table.to_arrow().to_pylist()}
    else:
        from qdrant_client import QdrantClient

        from cn_embeddings.bulk.qdrant import point_id

        qdrant = QdrantClient(path=str(tmp_path / "store"))
        try:
            points = qdrant.retrieve("out", [point_id(f"t{i}") for i in range(2)], with_vectors=["multi"])
            got = {p.payload["id"]: p.vector["multi"] for p in points}
        finally:
            qdrant.close()
    for i, rows in enumerate(expected):
        assert len(got[f"t{i}"]) == len(rows)
        for ours, theirs in zip(got[f"t{i}"], rows, strict=True):
            assert ours == pytest.approx(list(theirs), abs=1e-6)


def _jsonl(tmp_path, texts):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(texts)), "utf-8")
    return path


def test_settings_an_older_version_did_not_record_do_not_block_a_resume(tmp_path, emulator):
    out = tmp_path / "out.jsonl"
    client = emulator.client("qianfan")
    embed_corpus(client, Source(texts=["a", "b"]), open_sink(out))
    sidecar = tmp_path / ".out.jsonl.settings.json"
    recorded = json.loads(sidecar.read_text(encoding="utf-8"))
    del recorded["vendor"]  # as written before the vendor was recorded
    sidecar.write_text(json.dumps(recorded), encoding="utf-8")
    again = embed_corpus(client, Source(texts=["a", "b", "c"]), open_sink(out))
    assert (again.skipped, again.written) == (2, 1)
    recorded["long_inputs"] = "truncate"  # a setting it did record still counts
    sidecar.write_text(json.dumps(recorded), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="long_inputs='truncate' there, 'error' now"):
        embed_corpus(client, Source(texts=["a", "b", "c", "d"]), open_sink(out))


def test_the_cli_fixes_the_heaps_mmap_threshold_and_a_users_setting_wins():
    """The setting that keeps a long job's memory flat (benchmarks/bulk_memory.py measures it):
    glibc's mallopt is found and accepts it, Arrow is pointed at the system allocator, and a
    user's own MALLOC_MMAP_THRESHOLD_ or ARROW_DEFAULT_MEMORY_POOL is left alone."""
    script = textwrap.dedent(
        """
        import os
        from unittest import mock
        from cn_embeddings.bulk import heap
        assert heap._fix_mmap_threshold() is True  # glibc (the CI's Debian) takes it
        with mock.patch.object(heap, "_fix_mmap_threshold") as fix:
            heap.keep_memory_flat()
            assert fix.call_count == 1 and os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system"
            os.environ["MALLOC_MMAP_THRESHOLD_"] = "65536"
            os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"
            heap.keep_memory_flat()
            assert fix.call_count == 1 and os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "jemalloc"
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "ARROW_"))}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "ok", done.stderr
