"""Replaying (and re-recording) the cassettes in ``cassettes/`` with vcrpy.

CI replays with ``record_mode="none"``: a request not in the cassette fails
the test. Requests are matched on method, path and body only: TC3 headers
change on every run, and the host is wherever the cassette was recorded.
Authorization and session-token headers are never written.

Re-recording (see cassettes/README.md):
    CN_EMBEDDINGS_RECORD=emulator pytest tests/integration_tests -k Cassette   # from the emulator
    CN_EMBEDDINGS_RECORD=live pytest tests/integration_tests -k Cassette       # real clouds, with credentials
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from pathlib import Path

import vcr

ROOT = Path(__file__).resolve().parents[1] / "cassettes"
REPLAY_BASE_URLS = {
    "tencent": "http://127.0.0.1:9",
    "qianfan": "http://127.0.0.1:9/v2",
    "ark": "http://127.0.0.1:9/api/v3",
}
SECRET_HEADERS = ["authorization", "x-tc-token", "appid"]


def record_mode() -> str | None:
    """'emulator', 'live' or None (replay)."""
    mode = os.environ.get("CN_EMBEDDINGS_RECORD")
    return mode if mode in ("emulator", "live") else None


def _label(path: Path, mode: str) -> None:
    today = datetime.date.today().isoformat()
    source = (
        "the cn-embeddings offline emulator (cn_embeddings.testing), NOT a real service"
        if mode == "emulator"
        else "the real vendor service"
    )
    text = path.read_text(encoding="utf-8")
    path.write_text(f"# Recorded {today} from {source}.\n" + text, encoding="utf-8")


@contextlib.contextmanager
def use_cassette(vendor: str, name: str) -> Iterator[None]:
    mode = record_mode()
    path = ROOT / vendor / f"{name}.yaml"
    recorder = vcr.VCR(
        record_mode="all" if mode else "none",
        match_on=["method", "path", "body"],
        filter_headers=SECRET_HEADERS,
        decode_compressed_response=True,
    )
    with recorder.use_cassette(str(path)):
        yield
    if mode and path.exists():
        _label(path, mode)
