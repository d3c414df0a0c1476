"""Every code snippet in the README and the docs runs, as written, against the emulator.

A page's snippets run in order in one namespace (as a reader would paste them), in a folder of
their own that holds the files they name (images, a video, a corpus). Python runs in this process;
shell blocks run with bash, the ``cn-embeddings`` of this environment first on the PATH. The line
before a block may say:

- ``<!-- not run: why -->``: the block is skipped, and the reason must be given;
- ``<!-- file: NAME -->``: the block is a file (YAML, a corpus) written as NAME for later blocks.

Blocks in other languages (JSON, HTTP, YAML without a file marker) are wire examples, not code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import png_bytes

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
MARKER = re.compile(r"<!-- (not run|file): ?(.*?) -->")
RUNNABLE = {"python": "python", "bash": "bash", "sh": "bash"}


def blocks(page: Path) -> list[tuple[int, str, str, tuple[str, str] | None]]:
    """(line, language, code, marker) for every fenced block of ``page``."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(before.strip())
        line = text.count("\n", 0, match.start()) + 1
        found.append((line, match.group(1), match.group(2), marker.groups() if marker else None))
    return found


def _pages_with_code() -> list[Path]:
    """Pages with at least one block to run (a page whose every block is marked not run has none)."""
    return [p for p in PAGES if any(lang in RUNNABLE and not marker for _, lang, _, marker in blocks(p))]


def _workspace(folder: Path) -> None:
    """The files the snippets name."""
    (folder / "photos").mkdir()
    for name, color in [("cat.png", (200, 120, 40)), ("hat.png", (220, 20, 20)), ("sky.png", (40, 90, 230))]:
        (folder / name).write_bytes(png_bytes(32, 32, color))
    for i in range(2):
        (folder / "photos" / f"p{i}.png").write_bytes(png_bytes(32, 32, (10 * i, 200, 10)))
    (folder / "tiny.png").write_bytes(png_bytes(8, 8))  # under Ark's 15 px: fit_images upscales it
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "hat.jpg", "JPEG")
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
    (folder / "sea.mp4").write_bytes(video)
    (folder / "clip.mp4").write_bytes(video)
    docs = ['{"text": "熊猫吃竹子"}', '{"text": "企鹅吃鱼"}', '{"text": "北京是中国的首都"}']
    (folder / "docs.jsonl").write_text("\n".join(docs) + "\n", encoding="utf-8")


def test_every_page_with_code_is_found():
    """The collection itself can fail: the README and the quickstarts must be among the pages."""
    names = {p.relative_to(ROOT).as_posix() for p in _pages_with_code()}
    assert {"README.md", "docs/quickstart/core.md", "docs/how-to/bulk.md"} <= names


def test_a_skipped_snippet_says_why():
    for page in PAGES:
        for line, _, _, marker in blocks(page):
            if marker and marker[0] == "not run":
                assert len(marker[1]) > 10, f"{page.name}:{line}: a snippet not run must say why"


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_snippets_run(page, emu, redis_url, tmp_path, monkeypatch):
    _workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    for key, value in emu.environment().items():
        monkeypatch.setenv(key, value)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    namespace: dict[str, object] = {"__name__": "__snippet__", "REDIS_URL": redis_url}
    ran = 0
    for line, language, code, marker in blocks(page):
        where = f"{page.relative_to(ROOT)}:{line}"
        if marker and marker[0] == "file":
            (tmp_path / marker[1]).write_text(code, encoding="utf-8")
            continue
        if marker or language not in RUNNABLE:
            continue
        if RUNNABLE[language] == "python":
            exec(compile(code, where, "exec"), namespace)  # noqa: S102 - the documentation's own code
        else:
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], env=env, capture_output=True, text=True)
            assert done.returncode == 0, f"{where}: exit {done.returncode}\n{done.stderr[-2000:]}"
        ran += 1
    assert ran, f"{page.name}: no snippet ran"
