"""The bulk job from Python, against the in-process emulator: checks before sending, resume rules,
failures that keep every answered vector, Parquet and CSV in and out."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pyarrow.types as pa_types
import pytest

from cn_embeddings import ConfigurationError, InvalidInputError
from cn_embeddings.bulk import BulkError, Columns, Source, embed_corpus, open_sink
from tests.conftest import png_bytes


def lines_of(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(rows), "an id was written twice"
    return by_id


def write_csv(path: Path, rows: list[tuple[str, str]], bom: bool = False) -> Path:
    text = "id,text\n" + "".join(f"{rid},{text}\n" for rid, text in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_a_bad_line_900_is_refused_by_id_and_line_before_any_request(emu, tmp_path):
    rows = [(f"doc-{i}", f"text {i}") for i in range(1000)]
    rows[899] = ("doc-899", "x" * 100)  # over WeCLIPv2's 72 characters
    corpus = write_csv(tmp_path / "corpus.csv", rows)
    client = emu.client("tencent", zero_waits=True)
    with pytest.raises(InvalidInputError) as caught:
        embed_corpus(client, Source(files=[corpus]), open_sink(tmp_path / "out.jsonl"))
    assert f"{corpus}:901" in str(caught.value) and "'doc-899'" in str(caught.value) and "72" in str(caught.value)
    assert emu.requests == 0 and not (tmp_path / "out.jsonl").exists()
    truncated = embed_corpus(
        emu.client("tencent", truncate=True), Source(files=[corpus]), open_sink(tmp_path / "out.jsonl")
    )
    assert truncated.written == 1000


def test_a_failure_mid_run_keeps_every_answered_vector_and_the_rerun_completes(emu, tmp_path):
    texts = [f"sentence {i}" for i in range(400)]
    reference = dict(zip([f"t{i}" for i in range(400)], emu.client("qianfan").embed_texts(texts), strict=True))
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out.jsonl"
    emu.reset()
    emu.faults.script("server_error", after=6)  # the 7th request fails for good (max_retries=0)
    client = emu.client("qianfan", max_retries=0, max_concurrency=4, batch_size=8)
    with pytest.raises(BulkError) as caught:
        embed_corpus(client, Source(files=[corpus]), open_sink(out))
    written = lines_of(out)
    answered = sum(1 for s in emu.seen if s.ok)
    assert len(written) == caught.value.summary.written == answered * 8 > 0
    assert caught.value.not_written == 400 - len(written)
    assert all(row["vector"] == reference[rid] for rid, row in written.items())
    again = embed_corpus(emu.client("qianfan"), Source(files=[corpus]), open_sink(out))
    assert again.skipped == len(written) and again.written == 400 - len(written)
    assert {rid: row["vector"] for rid, row in lines_of(out).items()} == reference


def test_each_record_is_read_and_checked_once(emu, tmp_path, monkeypatch):
    """The first pass checks each image (and fits the oversized ones) once; the second sends what
    it checked, and a duplicate id is named from the checked entries, not from a third read."""
    from cn_embeddings.vendors import ark

    checked = []
    real = ark.check_image
    monkeypatch.setattr(ark, "check_image", lambda media, *a, **k: checked.append(media) or real(media, *a, **k))
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(12):
        (folder / f"p{i:02}.png").write_bytes(png_bytes(8, 8, (i * 20, 40, 40)))  # under 15 px: fitted
    client = emu.client("ark", fit_images=True)
    summary = embed_corpus(client, Source(images=[folder]), open_sink(tmp_path / "out.jsonl"))
    assert summary.written == 12 and len(checked) == 12
    checked.clear()
    corpus = tmp_path / "dup.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": f"n{i % 3}", "image": str(folder / f"p{i:02}.png")}) + "\n" for i in range(4))
    )
    with pytest.raises(InvalidInputError, match=r"dup.jsonl:4.*duplicate id 'n0'"):
        embed_corpus(client, Source(files=[corpus], columns=Columns(image="image")), open_sink(tmp_path / "d.jsonl"))
    assert len(checked) == 4


def test_a_slow_output_holds_the_senders_back(emu, tmp_path):
    """Answers faster than the output takes them: requests wait for writing (credits), so the
    answers held at once, and the threads holding them, stay few however long the corpus."""
    import threading
    import time

    from cn_embeddings.bulk.credits import INITIAL_CREDITS, SPARE

    sink = open_sink(tmp_path / "out.jsonl")
    real_write, unwritten, most, workers = sink.write, [0], [0], [0]
    lock = threading.Lock()
    client = emu.client("qianfan", "embedding-v1", requests_per_second=0)
    real_run = client.run_batch

    def run_batch(items, cancel):
        result = real_run(items, cancel)
        with lock:
            unwritten[0] += 1
            most[0] = max(most[0], unwritten[0])
            workers[0] = max(workers[0], sum(t.name.startswith("cn-embeddings_") for t in threading.enumerate()))
        return result

    def slow_write(rows, model):
        time.sleep(0.01)
        real_write(rows, model)
        with lock:
            unwritten[0] -= 1

    client.run_batch, sink.write = run_batch, slow_write
    summary = embed_corpus(client, Source(texts=[f"text {i}" for i in range(3200)]), sink)
    assert summary.written == 3200 and len(emu.seen) == 200
    assert most[0] <= INITIAL_CREDITS, f"{most[0]} answers waited for the writer at once"
    assert workers[0] <= INITIAL_CREDITS + SPARE, f"{workers[0]} worker threads (the most: 256)"


def test_a_second_ctrl_c_stops_a_drain_at_once(tmp_path):
    """The first Ctrl-C drains (answers on the wire are awaited and written); a second while it
    drains stops the job within a slice, even with answers 5 s away."""
    import os
    import signal
    import threading
    import time

    from cn_embeddings.testing import Emulator, Faults

    with Emulator(faults=Faults(latency_ms=5000)) as slow:
        client = slow.client("qianfan", batch_size=1, max_concurrency=4, requests_per_second=0)
        signals: list[float] = []

        def interrupt() -> None:
            signals.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        threading.Timer(1.0, interrupt).start()
        threading.Timer(1.5, interrupt).start()
        with pytest.raises(KeyboardInterrupt):
            embed_corpus(client, Source(texts=[f"t{i}" for i in range(40)]), open_sink(tmp_path / "o.jsonl"))
        ended = time.monotonic()
    assert len(signals) == 2 and ended - signals[1] < 1.0, f"{ended - signals[1]:.1f} s after the second Ctrl-C"


def test_ids_default_to_content_hashes_so_different_texts_do_not_collide(emu, tmp_path):
    out = tmp_path / "o.jsonl"
    embed_corpus(emu.client("qianfan"), Source(texts=["苹果"]), open_sink(out))
    second = embed_corpus(emu.client("qianfan"), Source(texts=["香蕉", "苹果", "香蕉"]), open_sink(out))
    assert (second.written, second.skipped, second.duplicates) == (1, 1, 1)
    assert len(lines_of(out)) == 2


def test_resume_refuses_another_model_another_dimension_and_changed_content(emu, tmp_path):
    out = tmp_path / "o.jsonl"
    corpus = write_csv(tmp_path / "c.csv", [("a", "one"), ("b", "two")])
    embed_corpus(emu.client("ark", dimensions=1024), Source(files=[corpus]), open_sink(out))
    with pytest.raises(
        ConfigurationError, match="model='doubao-embedding-vision-251215' there, 'doubao-embedding-vision-250615' now"
    ):
        embed_corpus(emu.client("ark", "doubao-embedding-vision-250615"), Source(files=[corpus]), open_sink(out))
    changed = write_csv(tmp_path / "c2.csv", [("a", "one"), ("b", "TWO")])
    emu.reset()
    with pytest.raises(InvalidInputError, match="'b' is already in the output with other content"):
        embed_corpus(emu.client("ark", dimensions=1024), Source(files=[changed]), open_sink(out))
    assert emu.requests == 0
    more = write_csv(tmp_path / "c3.csv", [("c", "three")])
    with pytest.raises(ConfigurationError, match="dimensions=1024 there, None now"):  # before any request
        embed_corpus(emu.client("ark"), Source(files=[more]), open_sink(out))
    (tmp_path / ".o.jsonl.settings.json").unlink()  # an output from before settings were recorded:
    with pytest.raises(ConfigurationError, match="2048 dimensions.*holds 1024"):  # the first answer tells
        embed_corpus(emu.client("ark"), Source(files=[more]), open_sink(out))
    assert set(lines_of(out)) == {"a", "b"}


def test_parquet_output_with_sparse_vectors_resumes_from_ids_only(emu, tmp_path):
    out = tmp_path / "vectors.parquet"
    texts = [f"文档 {i}" for i in range(50)]
    client = emu.client("ark", sparse=True, dimensions=1024)
    expected = client.embed(texts)
    first = embed_corpus(client, Source(texts=texts[:30]), open_sink(out, rows_per_part=8))
    second = embed_corpus(client, Source(texts=texts), open_sink(out, rows_per_part=8))
    assert (first.written, second.skipped, second.written) == (30, 30, 20)
    table = pq.read_table(out)
    assert table.column_names == ["id", "text", "vector", "model", "hash", "sparse"]
    assert sorted(table.column("text").to_pylist()) == sorted(texts)  # the text sent, beside its vector
    assert (
        pa_types.is_list(table.schema.field("vector").type)
        and str(table.schema.field("vector").type.value_type) == "float"
    )
    assert len(set(table.column("id").to_pylist())) == 50
    by_hash = {row["hash"].split(".")[0]: row for row in table.to_pylist()}  # CONTENT.COLUMNS
    from cn_embeddings.bulk import content_hash

    for text, vector, sparse in zip(texts, expected.vectors, expected.sparse, strict=True):
        row = by_hash[content_hash(client.validate([text])[0])]
        assert row["vector"] == pytest.approx(vector, abs=1e-6)  # stored as float32
        assert dict(row["sparse"]) == pytest.approx(sparse, abs=1e-6)
        assert row["model"] == "doubao-embedding-vision-251215"
    assert not (out / "_journal.jsonl").exists()


def test_csv_and_parquet_inputs_with_columns_bom_and_relative_images(emu, tmp_path):
    import pyarrow as pa

    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(png_bytes(color=(1, 2, 3)))
    csv_file = tmp_path / "in.csv"
    csv_file.write_bytes(b"\xef\xbb\xbfkey,body,picture\nk1,hello,\nk2,,pics/a.png\n")
    parquet_file = tmp_path / "in.parquet"
    pq.write_table(pa.table({"key": ["k3"], "body": ["world"], "picture": [None]}), parquet_file)
    out = tmp_path / "o.jsonl"
    client = emu.client("ark", dimensions=1024)
    summary = embed_corpus(
        client,
        Source(files=[csv_file, parquet_file], columns=Columns(id="key", text="body", image="picture")),
        open_sink(out),
    )
    assert summary.written == 3
    rows = lines_of(out)
    assert rows["k2"]["vector"] == client.embed_images([tmp_path / "pics" / "a.png"])[0]
    assert rows["k3"]["vector"] == client.embed_texts(["world"])[0]


def test_a_file_that_is_not_utf8_is_named_with_its_line(emu, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nalso fine\n\xff\xfe broken\n")
    with pytest.raises(InvalidInputError, match=r"bad.txt:3 is not UTF-8"):
        embed_corpus(emu.client("qianfan"), Source(files=[bad]), open_sink(tmp_path / "o.jsonl"))
    assert emu.requests == 0


def test_output_paths_are_checked_before_any_request(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_sink(tmp_path / "missing" / "o.jsonl")
    (tmp_path / "file.parquet").write_text("x")
    with pytest.raises(ConfigurationError, match="is a file"):
        open_sink(tmp_path / "file.parquet")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"something": "else"}\n')
    with pytest.raises(ConfigurationError, match="not a line cn-embeddings wrote"):
        open_sink(foreign).existing()


@pytest.mark.slow  # runs against the wall clock
def test_ctrl_c_keeps_the_answers_on_the_wire_and_retries_nothing(tmp_path):
    """Ctrl-C drains the job: requests on the wire run to their answer and are written, batches
    waiting out a retry give up at once, and nothing new is sent. It used to let every batch in
    flight go through all its retries (up to timeout x attempts plus backoff)."""
    import os
    import signal
    import threading
    import time

    from cn_embeddings.testing import Emulator, Faults

    corpus = write_csv(tmp_path / "c.csv", [(f"r{i}", f"row {i}") for i in range(60)])
    out = tmp_path / "out.jsonl"
    with Emulator(faults=Faults(latency_ms=600, server_error_rate=0.6, seed=5)) as slow:
        client = slow.client("qianfan", batch_size=1, max_concurrency=4, max_retries=8, requests_per_second=0)
        at_signal: list[float] = []
        settled: list[int] = []  # what the emulator had logged 1.5 s after the interrupt landed
        marker = threading.Timer(0, lambda: None)

        def interrupted(signum, frame):  # Python's own handler, noting when the interrupt lands
            nonlocal marker
            at_signal.append(time.monotonic())
            marker = threading.Timer(1.5, lambda: settled.append(len(slow.seen)))
            marker.start()
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, interrupted)
        threading.Timer(2.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            with pytest.raises(KeyboardInterrupt):
                embed_corpus(client, Source(files=[corpus]), open_sink(out))
        finally:
            signal.signal(signal.SIGINT, previous)
        ended = time.monotonic()
        marker.join()
        signalled, seen_after = at_signal[0], list(slow.seen)
    assert ended - signalled < 2.5  # one attempt's answer (0.6 s), no backoff or retry (it took 9.5 s)
    # The emulator logs a request as it answers, 0.6 s after it arrived: anything it logged more
    # than 1.5 s after the interrupt would have been sent after it. Nothing was.
    assert settled == [len(seen_after)]
    written = lines_of(out)
    assert 0 < len(written) == sum(1 for s in seen_after if s.ok) < 60  # every paid answer kept
    with Emulator() as clean:
        again = embed_corpus(clean.client("qianfan"), Source(files=[corpus]), open_sink(out))
        assert again.skipped == len(written) and again.written == 60 - len(written)
