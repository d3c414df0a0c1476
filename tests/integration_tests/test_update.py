"""An output updated in place (``--update``): the five kinds of row, on every output that can be
updated, against the emulator, with the requests each edit paid for."""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cn_embeddings import ConfigurationError
from cn_embeddings.bulk import Source, embed_corpus, open_sink
from cn_embeddings.testing import Emulator

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = [".parquet", ".lance", ".qdrant"]


@pytest.fixture
def emulator():
    with Emulator() as emu:
        yield emu


def write_corpus(path: Path, rows: dict[str, tuple[str, str]]) -> None:
    """``rows``: id -> (text, a column's value)."""
    lines = [
        json.dumps({"id": rid, "text": text, "page": page}, ensure_ascii=False) for rid, (text, page) in rows.items()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_output(out: Path, suffix: str) -> dict[str, dict]:
    """id -> {text, page, vector} of every row, failing on an id seen twice."""
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(out).to_pylist()
    elif suffix == ".lance":
        import lancedb

        rows = lancedb.connect(str(out.parent)).open_table(out.stem).to_arrow().to_pylist()
    else:
        from qdrant_client import QdrantClient

        with contextlib.closing(QdrantClient(path=str(out.parent))) as qdrant:
            points, _ = qdrant.scroll(out.stem, limit=10_000, with_vectors=True)
        rows = [{**p.payload, "vector": p.vector["dense"]} for p in points]
    found: dict[str, dict] = {}
    for row in rows:
        assert row["id"] not in found, f"{row['id']} is in the output twice"
        found[row["id"]] = {"text": row["text"], "page": row["page"], "vector": list(row["vector"])}
    return found


def expected_vectors(texts: list[str]) -> dict[str, list[float]]:
    with Emulator() as reference:
        vectors = reference.client("qianfan").embed_texts(texts)
    return dict(zip(texts, vectors, strict=True))


def check_every_row_matches_its_text(found: dict[str, dict]) -> None:
    reference = expected_vectors(sorted({row["text"] for row in found.values()}))
    for rid, row in found.items():
        assert row["vector"] == pytest.approx(reference[row["text"]], rel=1e-6), f"{rid}: vector of another text"


def texts_sent(emulator) -> list[str]:
    return [text for seen in emulator.seen for text in seen.body.get("input", [])]


def edited(rows: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Two texts changed, two pages changed, two rows removed, two added."""
    new = dict(rows)
    new["d1"] = ("a changed text one", rows["d1"][1])
    new["d2"] = ("a changed text two", rows["d2"][1])
    new["d3"] = (rows["d3"][0], "page 99")
    new["d4"] = (rows["d4"][0], "page 98")
    del new["d5"], new["d6"]
    new["n1"] = ("a new text one", "page 1")
    new["n2"] = ("a new text two", "page 2")
    return new


@pytest.mark.parametrize("suffix", OUTPUTS)
@pytest.mark.parametrize("delete_missing", [False, True])
def test_an_update_pays_only_for_changed_and_new_texts(tmp_path, emulator, suffix, delete_missing):
    rows = {f"d{i}": (f"passage {i}", f"page {i % 3}") for i in range(30)}
    corpus, out = tmp_path / "corpus.jsonl", tmp_path / f"out{suffix}"
    write_corpus(corpus, rows)
    client = emulator.client("qianfan", requests_per_second=0)
    embed_corpus(client, Source(files=[corpus]), open_sink(out))
    new = edited(rows)
    write_corpus(corpus, new)
    emulator.reset()
    summary = embed_corpus(client, Source(files=[corpus]), open_sink(out), update=True, delete_missing=delete_missing)
    assert sorted(texts_sent(emulator)) == sorted(
        ["a changed text one", "a changed text two", "a new text one", "a new text two"]
    )
    assert (summary.written, summary.replaced, summary.rewritten) == (4, 2, 2)
    assert summary.deleted == (2 if delete_missing else 0) and summary.skipped == 30 - 2 - 2 - 2
    found = read_output(out, suffix)
    wanted = dict(new)
    if not delete_missing:
        wanted.update({rid: rows[rid] for rid in ("d5", "d6")})
    assert {rid: (row["text"], row["page"]) for rid, row in found.items()} == wanted
    check_every_row_matches_its_text(found)
    emulator.reset()
    again = embed_corpus(client, Source(files=[corpus]), open_sink(out), update=True, delete_missing=delete_missing)
    assert not emulator.seen and again.written == again.rewritten == again.replaced == 0


def test_a_json_lines_output_cannot_be_updated_and_says_what_can(tmp_path, emulator):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, {"a": ("text", "p")})
    with pytest.raises(ConfigurationError, match=r"JSON Lines.*NAME\.parquet"):
        embed_corpus(emulator.client("qianfan"), Source(files=[corpus]), open_sink(tmp_path / "o.jsonl"), update=True)
    assert not emulator.seen
    with pytest.raises(ConfigurationError, match="needs --update"):
        embed_corpus(
            emulator.client("qianfan"), Source(files=[corpus]), open_sink(tmp_path / "o.parquet"), delete_missing=True
        )


def test_an_update_with_another_space_is_refused_naming_both(tmp_path, emulator):
    corpus, out = tmp_path / "corpus.jsonl", tmp_path / "out.parquet"
    write_corpus(corpus, {"a": ("text", "p")})
    embed_corpus(emulator.client("ark", dimensions=1024), Source(files=[corpus]), open_sink(out))
    emulator.reset()
    with pytest.raises(ConfigurationError) as caught:
        embed_corpus(emulator.client("ark", dimensions=2048), Source(files=[corpus]), open_sink(out), update=True)
    said = str(caught.value)
    old = emulator.client("ark", dimensions=1024).space.id
    new = emulator.client("ark", dimensions=2048).space.id
    assert old in said and new in said and not emulator.seen


@pytest.mark.parametrize("suffix", OUTPUTS)
def test_every_output_records_the_embedding_space(tmp_path, emulator, suffix):
    corpus, out = tmp_path / "corpus.jsonl", tmp_path / f"out{suffix}"
    write_corpus(corpus, {"a": ("text", "p")})
    client = emulator.client("qianfan")
    embed_corpus(client, Source(files=[corpus]), open_sink(out))
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        metadata = pq.read_schema(next(out.glob("part-*.parquet"))).metadata
        space = json.loads(metadata[b"cn_embeddings.space"])
    elif suffix == ".lance":
        import lancedb

        metadata = lancedb.connect(str(out.parent)).open_table(out.stem).schema.metadata
        space = json.loads(metadata[b"cn_embeddings.space"])
    else:
        from qdrant_client import QdrantClient

        with contextlib.closing(QdrantClient(path=str(out.parent))) as qdrant:
            space = qdrant.get_collection(out.stem).config.metadata["cn_embeddings.settings"]["space"]
    assert space == client.space.describe()


UPDATE_CLI = [sys.executable, "-m", "cn_embeddings.cli", "embed", "--provider", "qianfan", "--update", "--delete-missing"]  # fmt: skip


@pytest.mark.parametrize("suffix", OUTPUTS)
def test_an_update_killed_at_random_moments_never_leaves_an_old_vector_beside_a_new_text(tmp_path, emulator, suffix):
    rows = {f"d{i}": (f"passage {i}", f"page {i % 5}") for i in range(600)}
    corpus, out = tmp_path / "corpus.jsonl", tmp_path / f"out{suffix}"
    write_corpus(corpus, rows)
    embed_corpus(emulator.client("qianfan", requests_per_second=0), Source(files=[corpus]), open_sink(out))
    rng = random.Random(11)
    new = {
        rid: (f"edited {rid}" if rng.random() < 0.3 else text, f"p{rng.randint(0, 9)}")
        for rid, (text, _) in rows.items()
    }
    for i in range(50):
        new[f"n{i}"] = (f"new text {i}", "p0")
    for rid in rng.sample(sorted(rows), 30):
        del new[rid]
    write_corpus(corpus, new)
    env = {**os.environ, **emulator.environment(), "PYTHONPATH": str(ROOT)}
    args = [*UPDATE_CLI, "--input", str(corpus), "--output", str(out), "--rps", "20", "--batch-size", "2"]
    args += ["--rows-per-part", "64"]
    wanted = {rid: (text, page) for rid, (text, page) in new.items()}
    cut_short = 0
    for _ in range(3):  # kill -9 during the edits or the embedding, then look at what is on disk
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.5, 3.0))
        proc.kill()
        proc.communicate()
        found = read_output(out, suffix)
        check_every_row_matches_its_text(found)
        cut_short += {rid: (row["text"], row["page"]) for rid, row in found.items()} != wanted
    assert cut_short, "no kill landed before the update was done: the test proved nothing"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = read_output(out, suffix)
    assert {rid: (row["text"], row["page"]) for rid, row in found.items()} == wanted
    check_every_row_matches_its_text(found)
