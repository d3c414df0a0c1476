"""The command line end to end, in subprocesses, against an emulator subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import png_bytes

CLI = [sys.executable, "-m", "cn_embeddings.cli"]
CREDENTIAL_VARS = (
    "TENCENTCLOUD_SECRET_ID",
    "TENCENTCLOUD_SECRET_KEY",
    "TENCENTCLOUD_SESSION_TOKEN",
    "QIANFAN_API_KEY",
    "ARK_API_KEY",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    env.update(extra)
    return env


@pytest.fixture
def emulator_process(request):
    """`cn-embeddings emulator` in a subprocess; yields env vars that point the clients at it."""
    latency = getattr(request, "param", 0)
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "emulator", "--port", str(port), "--latency-ms", str(latency)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    banner = proc.stdout.readline()
    assert "listening on" in banner, banner
    env = clean_env(
        TENCENTCLOUD_ES_BASE_URL=f"http://127.0.0.1:{port}",
        TENCENTCLOUD_SECRET_ID="AKIDEMULATOR0000",
        TENCENTCLOUD_SECRET_KEY="emulator-secret-key",
        QIANFAN_BASE_URL=f"http://127.0.0.1:{port}/v2",
        QIANFAN_API_KEY="emulator-qianfan-key",
        ARK_BASE_URL=f"http://127.0.0.1:{port}/api/v3",
        ARK_API_KEY="emulator-ark-key",
    )
    yield env
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)  # waits, and closes the pipes


def run(args, env, **kw):
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120, **kw)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_demo_runs_offline_and_says_so():
    result = run(["demo"], clean_env())
    assert result.returncode == 0, result.stderr
    assert "OFFLINE EMULATOR" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith(("tencent", "qianfan", "ark"))]
    assert len(rows) == 6 and all("熊猫" in row and "red_square.png" in row for row in rows)


def test_check_ok_and_missing_credentials(emulator_process):
    ok = run(["check", "--provider", "tencent"], emulator_process)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: tencent WeCLIPv2-Base, dimension 512")
    missing = run(["check", "--provider", "ark"], clean_env())
    assert missing.returncode == 2 and "ARK_API_KEY" in missing.stderr and "Traceback" not in missing.stderr
    wrong = run(["check", "--provider", "qianfan"], {**emulator_process, "QIANFAN_API_KEY": "wrong"})
    assert wrong.returncode == 2 and "invalid_iam_token" in wrong.stderr and "hint:" in wrong.stderr


def test_embed_texts_images_folder_and_jsonl(emulator_process, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(png_bytes(color=(i * 40, 10, 10)))
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {"id": "a", "text": "天很蓝"},
                {"id": "b", "image": str(folder / "0.png")},
                {"id": "c", "text": "红色", "image": str(folder / "1.png")},
            ]
        )
    )
    out = tmp_path / "out.jsonl"
    result = run(
        [
            "embed",
            "--provider",
            "ark",
            "--text",
            "hello",
            "--image",
            str(folder),
            "--input",
            str(inputs),
            "--output",
            str(out),
            "--dimensions",
            "1024",
        ],
        emulator_process,
    )
    assert result.returncode == 0, result.stderr
    lines = {line["id"]: line for line in read_jsonl(out)}  # written as answered, in any order
    text_id = next(i for i in lines if i not in ("a", "b", "c") and not i.endswith(".png"))
    # an image's id is the folder's name and its path within, however the folder was spelled
    assert set(lines) == {text_id, *[f"{folder.name}/{i}.png" for i in range(3)], "a", "b", "c"}
    assert lines[text_id]["hash"].split(".")[0] == text_id  # no id given: the content hash is the id
    assert all(len(v["vector"]) == 1024 and v["model"] == "doubao-embedding-vision-251215" for v in lines.values())
    assert lines[f"{folder.name}/0.png"]["vector"] == lines["b"]["vector"]  # one image, from the folder and .jsonl


@pytest.mark.slow  # runs against the wall clock
def test_embed_resumes_after_a_killed_run(emulator_process, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"line number {i}" for i in range(3000)))
    out = tmp_path / "out.jsonl"
    args = ["embed", "--provider", "qianfan", "--input", str(corpus), "--output", str(out), "--max-concurrency", "1"]
    full = tmp_path / "full.jsonl"
    reference = run([*args[:-4], "--output", str(full)], emulator_process)
    assert reference.returncode == 0

    proc = subprocess.Popen([*CLI, *args], env=emulator_process, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 20_000):
        time.sleep(0.005)
    proc.kill()
    proc.communicate()  # waits, and closes the pipes
    partial = out.read_text().count("\n")
    assert 0 < partial < 3000, partial
    with open(out, "a") as fh:  # simulate a kill in the middle of a line
        fh.write('{"id": "corpus.txt:99999", "vec')
    resumed = run(args, emulator_process)
    assert resumed.returncode == 0 and f"{partial} already present" in resumed.stderr
    lines = read_jsonl(out)
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)) == 3000
    assert {line["id"]: line["vector"] for line in lines} == {line["id"]: line["vector"] for line in read_jsonl(full)}


@pytest.mark.parametrize("command", ["demo", "embed", "check", "emulator"])
def test_every_command_has_help_with_examples(command):
    result = run([command, "--help"], clean_env())
    assert result.returncode == 0 and "examples:" in result.stdout


def test_bad_input_is_an_error_without_traceback(emulator_process, tmp_path):
    result = run(
        ["embed", "--provider", "tencent", "--text", "x" * 100, "--output", str(tmp_path / "o.jsonl")], emulator_process
    )
    assert result.returncode == 2 and "at most 72" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("emulator_process", [40], indirect=True)
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".lance", ".qdrant"])
@pytest.mark.slow  # runs against the wall clock
def test_embed_killed_at_random_points_then_resumed_writes_every_id_once_with_its_vector(
    emulator_process, tmp_path, suffix
):
    import random

    import pyarrow.parquet as pq

    corpus = tmp_path / "corpus.csv"
    corpus.write_text("id,text\n" + "".join(f"d{i},passage number {i}\n" for i in range(2000)))
    out = tmp_path / f"out{suffix}"
    args = [
        "embed",
        "--provider",
        "qianfan",
        "--input",
        str(corpus),
        "--output",
        str(out),
        "--rows-per-part",
        "100",
        "--max-concurrency",
        "2",
    ]
    journal = out / "_journal.jsonl" if suffix == ".parquet" else out

    def lance_table():
        import lancedb

        try:
            return lancedb.connect(str(tmp_path)).open_table("out")
        except ValueError:  # not created yet (or still being created)
            return None

    def qdrant_points(wait=False) -> int:
        from qdrant_client import QdrantClient

        if not (tmp_path / "collection" / "out").exists():
            return 0
        if wait:  # local mode admits one process at a time: count once the job is gone
            return 1
        with contextlib.closing(QdrantClient(path=str(tmp_path))) as qdrant:
            return qdrant.count("out").count

    def rows_on_disk(running=False) -> int:
        if suffix == ".qdrant":
            return qdrant_points(wait=running)
        if suffix == ".lance":
            table = lance_table()
            return table.count_rows() if table is not None else 0
        parts = pq.read_table(out).num_rows if suffix == ".parquet" and list(out.glob("part-*")) else 0
        return parts + (journal.read_text().count("\n") if journal.exists() else 0)

    rng = random.Random(7)
    counts = [0]
    for _ in range(3):  # kill -9 three times, at random moments after each run has written something
        proc = subprocess.Popen([*CLI, *args], env=emulator_process, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60  # the start-up alone can take seconds on a loaded machine
        started = time.monotonic()
        while (
            rows_on_disk(running=True) <= counts[-1]
            if suffix != ".qdrant"  # its local store admits one process: give each run a second to write
            else not qdrant_points(wait=True) or time.monotonic() - started < 1.0
        ) and (proc.poll() is None and time.monotonic() < deadline):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.kill()
        proc.communicate()  # waits, and closes the pipes
        counts.append(rows_on_disk())
    assert counts == sorted(counts) and counts[-1] < 2000, counts  # no run lost rows, and each was cut short
    assert suffix == ".qdrant" or counts == sorted(set(counts)), counts  # each run added rows
    resumed = run(args, emulator_process)
    assert resumed.returncode == 0, resumed.stderr
    assert "already present" in resumed.stderr and "rows written" in resumed.stderr
    if suffix == ".jsonl":
        rows = read_jsonl(out)
    elif suffix == ".lance":
        rows = lance_table().to_arrow().to_pylist()
    elif suffix == ".qdrant":
        from qdrant_client import QdrantClient

        with contextlib.closing(QdrantClient(path=str(tmp_path))) as qdrant:
            points, _ = qdrant.scroll("out", limit=5000, with_vectors=True)
        rows = [{"id": p.payload["id"], "vector": p.vector["dense"]} for p in points]
    else:
        rows = pq.read_table(out).to_pylist()
    ids = [row["id"] for row in rows]
    assert sorted(ids) == sorted(f"d{i}" for i in range(2000))  # every id exactly once
    from cn_embeddings.testing import Emulator

    with Emulator() as reference:
        expected = reference.client("qianfan").embed_texts([f"passage number {i}" for i in range(2000)])
    for row in rows:
        assert row["vector"] == pytest.approx(expected[int(row["id"][1:])], rel=1e-6)


def test_embed_to_stdout_and_the_summary(emulator_process, tmp_path):
    result = run(
        [
            "embed",
            "--provider",
            "ark",
            "--text",
            "一",
            "--text",
            "二",
            "--output",
            "-",
            "--verbose",
            "--dimensions",
            "1024",
        ],
        emulator_process,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2 and all(len(row["vector"]) == 1024 for row in rows)
    assert "2 rows written" in result.stderr and "requests" in result.stderr and "rows/s" in result.stderr


def test_cli_errors_are_one_line_with_a_hint(emulator_process, tmp_path):
    version = run(["--version"], clean_env())
    assert version.returncode == 0 and version.stdout.startswith("cn-embeddings ")
    missing_folder = run(
        ["embed", "--provider", "qianfan", "--text", "a", "--output", str(tmp_path / "no" / "o.jsonl")],
        emulator_process,
    )
    assert missing_folder.returncode == 2 and "does not exist" in missing_folder.stderr
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\n")
    not_utf8 = run(
        ["embed", "--provider", "qianfan", "--input", str(bad), "--output", str(tmp_path / "o.jsonl")], emulator_process
    )
    assert not_utf8.returncode == 2 and "bad.txt:2 is not UTF-8" in not_utf8.stderr and "hint:" in not_utf8.stderr
    for result in (missing_folder, not_utf8):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2


@pytest.mark.parametrize(
    "vendor,named,other", [("ark", "ARK_API_KEY", "QIANFAN"), ("qianfan", "QIANFAN_API_KEY", "ARK")]
)
def test_a_rejected_key_is_one_line_naming_that_vendors_variables(emulator_process, vendor, named, other):
    env = {**emulator_process, named: "wrong-key"}
    result = run(["check", "--provider", vendor], env)
    assert result.returncode != 0 and "hint: the credentials were rejected; check" in result.stderr
    assert named in result.stderr and other not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2, "the error line and its hint, no log line repeating it"


def test_rerank_prints_the_ranking_best_first(emulator_process, tmp_path):
    from cn_embeddings.testing import relevance

    texts = [f"row {i} " + ("giant pandas eat bamboo" if i in (3, 70) else "weather report") for i in range(100)]
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    result = run(
        ["rerank", "--provider", "qianfan", "--query", "what do pandas eat", "--input", str(docs), "--top-n", "3"],
        emulator_process,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    order = sorted(range(100), key=lambda i: (-relevance("what do pandas eat", texts[i]), i))[:3]
    assert [row["id"] for row in rows] == [f"d{i}" for i in order] and rows[0]["rank"] == 1
    assert "100 documents ranked in 2 requests" in result.stderr
    bad = run(
        ["rerank", "--provider", "qianfan", "--query", "q", "--input", str(docs), "--top-n", "0"], emulator_process
    )
    assert bad.returncode == 2 and "top_n must be a positive integer" in bad.stderr and "Traceback" not in bad.stderr


def test_the_emulator_prints_every_vendor_it_serves(tmp_path):
    """Exporting exactly what the banner prints is enough for TokenHub and the Volcengine reranker
    too (it printed only Tencent, Qianfan and Ark, and those two exited 2 'missing ... key')."""
    port = free_port()
    proc = subprocess.Popen([*CLI, "emulator", "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        exported = next(line for line in lines if line.strip().startswith("export "))
        env = clean_env(**dict(pair.split("=", 1) for pair in exported.split()[1:]))
        assert run(["check", "--provider", "tokenhub"], env).returncode == 0
        docs = tmp_path / "docs.txt"
        docs.write_text("pandas eat bamboo\nsushi comes from Japan\n", encoding="utf-8")
        ranked = run(["rerank", "--provider", "volcengine", "--query", "pandas", "--input", str(docs)], env)
        assert ranked.returncode == 0, ranked.stderr
        assert "2 documents ranked in 1 request\n" in ranked.stderr  # not "1 requests"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def test_the_demo_labels_rows_by_where_requests_go(emulator_process):
    """With the emulator's variables exported, every row says "emulator" (each said "real cloud")."""
    result = run(["demo"], emulator_process)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(("tencent", "qianfan", "ark"))]
    assert len(rows) == 6 and all("emulator" in row and "real cloud" not in row for row in rows), rows


def test_log_levels_between_warning_and_everything(emulator_process):
    """-v shows this package's INFO lines (where pacing starts) without the libraries' DEBUG;
    -vv adds those (httpcore wrote about 11 lines a request, 2,200 for a 3,000-row job)."""
    texts = [arg for i in range(5) for arg in ("--text", f"第 {i} 段")]
    quiet = run(["embed", "--provider", "qianfan", *texts, "--output", "-"], emulator_process)
    one = run(["embed", "--provider", "qianfan", *texts, "--output", "-", "-v"], emulator_process)
    two = run(["-vv", "embed", "--provider", "qianfan", *texts, "--output", "-"], emulator_process)
    assert quiet.returncode == one.returncode == two.returncode == 0, one.stderr
    assert "pacing starts" not in quiet.stderr
    assert "pacing starts" in one.stderr and "httpcore" not in one.stderr
    assert "pacing starts" in two.stderr and "httpcore" in two.stderr


def test_boolean_options_can_be_turned_off():
    """--remember-quota defaults to True: --no-remember-quota turns it off (a store_true flag could
    not); left out, the declared default applies."""
    from cn_embeddings.cli import build_parser

    line = ["embed", "--provider", "ark", "--text", "a", "--output", "-"]
    assert build_parser().parse_args([*line, "--no-remember-quota"]).remember_quota is False
    assert build_parser().parse_args([*line, "--remember-quota"]).remember_quota is True
    assert build_parser().parse_args(line).remember_quota is None
