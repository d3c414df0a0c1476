"""The documentation site: it builds strictly, its generated tables are there, and it renders in a
real browser (headless Chromium from Debian's packages, driven by Playwright)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"  # screenshots, kept by CI as artifacts


def build(into: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(into)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    done = build(folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def test_the_site_builds_strictly_with_generated_tables(site):
    ark = (site / "vendors" / "ark" / "index.html").read_text(encoding="utf-8")
    assert "doubao-embedding-vision-251215" in ark and "InflightBatchsizeExceeded" in ark
    assert "<!-- table:" not in ark  # every marker was replaced
    options = (site / "options" / "index.html").read_text(encoding="utf-8")
    for name in sorted(_every_option()):
        assert f"<code>{name}</code>" in options, name
    reference = (site / "reference" / "core" / "index.html").read_text(encoding="utf-8")
    assert "cn_embeddings.ArkClient" in reference
    limits = (site / "how-to" / "rate-limits" / "index.html").read_text(encoding="utf-8")
    sources = limits[limits.index('id="where-pacing-starts"') :]
    sources = sources[sources.index("<ol>") : sources.index("</ol>")]
    assert sources.count("<li>") == 5, "the five sources, nothing after them run on into the list"


def _every_option() -> set[str]:
    from cn_embeddings._options import ClientOptions, declared
    from cn_embeddings.vendors import ark, qianfan, tencent, tokenhub

    classes = (
        ClientOptions,
        ark.ArkProtocol,
        qianfan.QianfanProtocol,
        tencent.TencentProtocol,
        tokenhub.TokenHubProtocol,
    )
    return {spec.name for cls in classes for spec in declared(cls)}


def test_a_broken_link_fails_the_build(tmp_path):
    """Strict means strict: a page linking to a page that does not exist stops the build."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    for name in ("mkdocs.yml", "README.md", "BENCHMARKS.md", "CHANGELOG.md", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    (copy / "docs" / "index.md").write_text("# Home\n\n[gone](nowhere.md)\n", encoding="utf-8")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "nowhere.md" in done.stderr


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.mark.slow
def test_the_site_renders_in_chromium(site):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed; scripts/test.sh installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=flags)
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for path, heading, shot in [("/", "cn-embeddings", "home"), ("/vendors/ark/", "Volcengine Ark", "ark")]:
                page.goto(base + path, wait_until="networkidle")
                assert page.locator("article h1").first.inner_text().replace("¶", "").strip() == heading
                assert page.locator("article table").count() >= 1
                assert page.locator("article table tr").count() > 3
                page.screenshot(path=str(ARTIFACTS / f"docs-{shot}.png"), full_page=False)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert errors == []
