"""``cn-embeddings demo``: the main job, end to end, through both frameworks.

For each vendor it embeds a small bundled corpus and two images with the
LangChain and the LlamaIndex class, builds an in-memory store, runs a text
query and an image query, and reports what it cost. A vendor whose
credentials are not set runs against the built-in offline emulator, and the
output says so plainly.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..clients import credentials_of
from ..testing import Emulator

MODELS = {"tencent": "WeCLIPv2-Base", "qianfan": "gme-qwen2-vl-2b-instruct", "ark": "doubao-embedding-vision-251215"}
TEXT_QUERY = "熊猫吃什么？"


def _required_env(vendor: str) -> list[str]:
    return [cred.env for cred in credentials_of(vendor) if cred.required]


@dataclass
class Row:
    vendor: str
    framework: str
    model: str
    backend: str
    dimensions: int = 0
    requests: int = 0
    retries: int = 0
    tokens: int = 0
    seconds: float = 0.0
    text_hit: str = ""
    image_hit: str = ""
    error: str = ""


def bundled() -> tuple[list[str], list[Path]]:
    data = resources.files("cn_embeddings") / "data"
    corpus = [line for line in (data / "corpus.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    images = [Path(str(data / name)) for name in ("red_square.png", "blue_square.png")]
    return corpus, images


def has_credentials(vendor: str) -> bool:
    return all(os.environ.get(env) for env in _required_env(vendor))


def where(vendor: str) -> str:
    """Where a vendor's requests go with the environment as it is: the project's emulator (a
    loopback base URL and the emulator's public credentials), another local endpoint, or the real
    cloud (no base URL set, or one elsewhere)."""
    import ipaddress
    from urllib.parse import urlsplit

    from ..testing import Credentials
    from ..vendors import ark, qianfan, tencent

    env = {"tencent": tencent.BASE_URL_ENV, "qianfan": qianfan.BASE_URL_ENV, "ark": ark.BASE_URL_ENV}[vendor]
    host = urlsplit(os.environ.get(env, "")).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return "real cloud"
    public = set(vars(Credentials()).values())
    return "emulator" if all(os.environ.get(e) in public for e in _required_env(vendor)) else "local endpoint"


def _cosine_best(query: list[float], candidates: list[list[float]]) -> int:
    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True)) / (
            math.sqrt(sum(x * x for x in a) * sum(y * y for y in b)) or 1.0
        )

    return max(range(len(candidates)), key=lambda i: cos(query, candidates[i]))


def _langchain(vendor: str, params: dict[str, Any], corpus: list[str], images: list[Path], row: Row) -> None:
    from langchain_core.vectorstores import InMemoryVectorStore

    from langchain_cn_embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings

    cls = {"tencent": TencentCloudEmbeddings, "qianfan": QianfanEmbeddings, "ark": ArkEmbeddings}[vendor]
    emb = cls(model=row.model, **params)
    store = InMemoryVectorStore.from_texts(corpus, emb)
    row.text_hit = store.similarity_search(TEXT_QUERY, k=1)[0].page_content
    image_vectors = emb.embed_image([str(p) for p in images])
    row.image_hit = images[_cosine_best(emb.embed_image([str(images[0])])[0], image_vectors)].name
    row.dimensions = len(image_vectors[0])
    _usage(row, emb.usage)


def _llama_index(vendor: str, params: dict[str, Any], corpus: list[str], images: list[Path], row: Row) -> None:
    from llama_index.core import Document, VectorStoreIndex

    from llama_index_cn_embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding

    cls = {"tencent": TencentCloudEmbedding, "qianfan": QianfanEmbedding, "ark": ArkEmbedding}[vendor]
    emb = cls(model_name=row.model, **params)
    index = VectorStoreIndex.from_documents([Document(text=t) for t in corpus], embed_model=emb)
    row.text_hit = index.as_retriever(similarity_top_k=1).retrieve(TEXT_QUERY)[0].node.get_content()
    image_vectors = emb.get_image_embedding_batch([str(p) for p in images])
    row.image_hit = images[_cosine_best(emb.get_image_embedding(str(images[0])), image_vectors)].name
    row.dimensions = len(image_vectors[0])
    _usage(row, emb.usage)


def _usage(row: Row, usage: Any) -> None:
    row.requests, row.retries, row.tokens = usage.requests, usage.retries, usage.total_tokens


def run_demo(live: bool = False, say: Callable[[str], object] = print) -> list[Row]:
    corpus, images = bundled()
    missing = [v for v in MODELS if not has_credentials(v)]
    if live and missing:
        from .._exceptions import ConfigurationError

        needed = ", ".join(env for v in missing for env in _required_env(v))
        raise ConfigurationError(f"--live needs credentials for {', '.join(missing)}: set {needed}")
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        emulator = stack.enter_context(Emulator()) if missing else None
        if emulator is not None:
            say(
                f"No credentials for {', '.join(missing)}: using the built-in OFFLINE EMULATOR at {emulator.url} "
                "(deterministic fake vectors, not the real service)."
            )
        for vendor, model in MODELS.items():
            live_vendor = vendor not in missing
            params = {} if live_vendor else emulator.settings(vendor)  # type: ignore[union-attr]
            for framework, run in (("langchain", _langchain), ("llama-index", _llama_index)):
                row = Row(vendor, framework, model, where(vendor) if live_vendor else "emulator")
                started = time.perf_counter()
                try:
                    run(vendor, params, corpus, images, row)
                except ImportError as exc:
                    row.error = f"framework not installed ({exc.name})"
                except Exception as exc:  # noqa: BLE001 - reported in the table, the demo goes on
                    row.error = f"{type(exc).__name__}: {exc}"
                row.seconds = time.perf_counter() - started
                rows.append(row)
    return rows


def format_table(rows: list[Row]) -> str:
    head = [
        "vendor",
        "framework",
        "backend",
        "model",
        "dims",
        "requests",
        "retries",
        "tokens",
        "seconds",
        "top hit (text query)",
        "top hit (image query)",
    ]
    body = [
        [
            r.vendor,
            r.framework,
            r.backend,
            r.model,
            str(r.dimensions),
            str(r.requests),
            str(r.retries),
            str(r.tokens),
            f"{r.seconds:.2f}",
            (r.error or r.text_hit)[:40],
            "" if r.error else r.image_hit,
        ]
        for r in rows
    ]
    widths = [max(_width(x) for x in col) for col in zip(head, *body, strict=False)]
    lines = ["  ".join(_pad(c, w) for c, w in zip(line, widths, strict=True)) for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([f"text query: {TEXT_QUERY}    image query: red_square.png", *lines])


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
