"""A catalogue of bad inputs across the three vendors and both frameworks.

Each case raises InvalidInputError or ConfigurationError naming the item and
the rule, and the emulator sees no request at all.
"""

from __future__ import annotations

import asyncio

import pytest

from cn_embeddings import ConfigurationError, InvalidInputError
from langchain_cn_embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings
from llama_index_cn_embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding
from tests._servers import credentials
from tests.conftest import data_uri, png_bytes

MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32
LC = {"tencent": TencentCloudEmbeddings, "qianfan": QianfanEmbeddings, "ark": ArkEmbeddings}
LI = {"tencent": TencentCloudEmbedding, "qianfan": QianfanEmbedding, "ark": ArkEmbedding}


def core(vendor, model, **kw):
    from tests._servers import shared_emulator

    return shared_emulator().client(vendor, model, **kw)


def lc(vendor, model, **kw):
    return LC[vendor](model=model, **credentials(vendor), **kw)


def li(vendor, model, **kw):
    return LI[vendor](model_name=model, **credentials(vendor), **kw)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "cut.png").write_bytes(png_bytes()[:6])
    (tmp_path / "big.png").write_bytes(png_bytes(pad=1024 * 1024 + 10))
    (tmp_path / "ok.png").write_bytes(png_bytes())
    (tmp_path / "folder").mkdir()
    return tmp_path


# (id, build, call, error, message fragment)
CASES = [
    (
        "core-empty-text",
        lambda f: core("qianfan", "embedding-v1"),
        lambda c, f: c.embed_texts(["ok", ""]),
        InvalidInputError,
        "input 1: text is empty",
    ),
    (
        "core-whitespace",
        lambda f: core("ark", "doubao-embedding-text-240715"),
        lambda c, f: c.embed_texts([" \n\t"]),
        InvalidInputError,
        "input 0: text is empty",
    ),
    (
        "core-none-in-list",
        lambda f: core("tencent", "bge-m3"),
        lambda c, f: c.embed_texts(["a", None]),
        InvalidInputError,
        "input 1: text must be str",
    ),
    (
        "core-int-item",
        lambda f: core("tencent", "WeCLIPv2-Base"),
        lambda c, f: c.embed_texts([1]),
        InvalidInputError,
        "input 0: text must be str, not int",
    ),
    (
        "core-bytes-item",
        lambda f: core("ark", "doubao-embedding-vision-250615"),
        lambda c, f: c.embed_texts([b"x"]),
        InvalidInputError,
        "input 0: text must be str, not bytes",
    ),
    (
        "core-qianfan-too-long",
        lambda f: core("qianfan", "embedding-v1"),
        lambda c, f: c.embed_texts(["字" * 1001]),
        InvalidInputError,
        "at most 1000",
    ),
    (
        "core-tao-too-long",
        lambda f: core("qianfan", "tao-8k"),
        lambda c, f: c.embed_texts(["a", "b" * 28001]),
        InvalidInputError,
        "input 1: text has 28001 characters",
    ),
    (
        "core-bge-too-long",
        lambda f: core("qianfan", "bge-large-en"),
        lambda c, f: c.embed_texts(["w" * 2001]),
        InvalidInputError,
        "at most 2000",
    ),
    (
        "core-tencent-72",
        lambda f: core("tencent", "WeCLIPv2-Large"),
        lambda c, f: c.embed_texts(["x" * 73]),
        InvalidInputError,
        "at most 72",
    ),
    (
        "core-ark-bytes",
        lambda f: core("ark", "doubao-embedding-text-240715"),
        lambda c, f: c.embed_texts(["中" * 33334]),
        InvalidInputError,
        "at most 100000",
    ),
    (
        "core-batch-size-over",
        lambda f: f,
        lambda c, f: core("qianfan", "tao-8k", batch_size=2),
        ConfigurationError,
        "above the qianfan limit of 1",
    ),
    (
        "core-batch-size-zero",
        lambda f: f,
        lambda c, f: core("tencent", "WeCLIPv2-Base", batch_size=0),
        ConfigurationError,
        "at least 1",
    ),
    (
        "core-image-too-big",
        lambda f: core("tencent", "WeCLIPv2-Base"),
        lambda c, f: c.embed_images([f / "big.png"]),
        InvalidInputError,
        "input 0: image is",
    ),
    (
        "core-zero-byte",
        lambda f: core("ark", "doubao-embedding-vision-250615"),
        lambda c, f: c.embed_images([f / "empty.png"]),
        InvalidInputError,
        "empty (0 bytes)",
    ),
    (
        "core-truncated",
        lambda f: core("qianfan", "gme-qwen2-vl-2b-instruct"),
        lambda c, f: c.embed_images([f / "cut.png"]),
        InvalidInputError,
        "format",
    ),
    (
        "core-text-named-png",
        lambda f: core("tencent", "WeCLIPv2-Base"),
        lambda c, f: c.embed_images([f / "ok.png", f / "notes.png"]),
        InvalidInputError,
        "input 1: unknown",
    ),
    (
        "core-missing-path",
        lambda f: core("ark", "doubao-embedding-vision-250615"),
        lambda c, f: c.embed_images([f / "nope.jpg"]),
        InvalidInputError,
        "not found",
    ),
    (
        "core-directory",
        lambda f: core("ark", "doubao-embedding-vision-250615"),
        lambda c, f: c.embed_images([f / "folder"]),
        InvalidInputError,
        "not a file",
    ),
    (
        "core-file-url",
        lambda f: core("tencent", "WeCLIPv2-Base"),
        lambda c, f: c.embed_images(["file:///etc/hosts"]),
        InvalidInputError,
        "file://",
    ),
    (
        "core-ftp-url",
        lambda f: core("qianfan", "gme-qwen2-vl-2b-instruct"),
        lambda c, f: c.embed_images(["ftp://x.test/a.png"]),
        InvalidInputError,
        "ftp://",
    ),
    (
        "core-bad-data-uri",
        lambda f: core("ark", "doubao-embedding-vision-250615"),
        lambda c, f: c.embed_images(["data:image/png;base64,###"]),
        InvalidInputError,
        "malformed base64",
    ),
    (
        "core-data-uri-no-b64",
        lambda f: core("ark", "doubao-embedding-vision-250615"),
        lambda c, f: c.embed_images(["data:image/png,abc"]),
        InvalidInputError,
        "malformed image data URI",
    ),
    (
        "core-gif-qianfan",
        lambda f: core("qianfan", "gme-qwen2-vl-2b-instruct"),
        lambda c, f: c.embed_images([b"GIF89a" + b"\x00" * 20]),
        InvalidInputError,
        "format gif",
    ),
    (
        "core-bad-dimensions",
        lambda f: f,
        lambda c, f: core("ark", "doubao-embedding-vision-250615", dimensions=512),
        ConfigurationError,
        "dimensions must be one of (1024, 2048)",
    ),
    (
        "core-sparse-with-image",
        lambda f: core("ark", "doubao-embedding-vision-250615", sparse=True),
        lambda c, f: c.embed(["ok", {"text": "a", "image": f / "ok.png"}]),
        InvalidInputError,
        "input 1: sparse",
    ),
    (
        "core-multimodal-on-text-model",
        lambda f: core("tencent", "bge-m3"),
        lambda c, f: c.embed([{"text": "a", "image": f / "ok.png"}]),
        ConfigurationError,
        "text-only",
    ),
    (
        "core-tencent-fusion",
        lambda f: core("tencent", "WeCLIPv2-Base"),
        lambda c, f: c.embed([{"text": "a", "image": f / "ok.png"}]),
        InvalidInputError,
        "cannot fuse",
    ),
    (
        "core-video-qianfan",
        lambda f: core("qianfan", "gme-qwen2-vl-2b-instruct"),
        lambda c, f: c.embed([{"video": MP4}]),
        InvalidInputError,
        "cannot embed video",
    ),
    (
        "core-video-old-ark",
        lambda f: core("ark", "doubao-embedding-vision-250328"),
        lambda c, f: c.embed([{"video": MP4}]),
        InvalidInputError,
        "cannot embed video",
    ),
    (
        "core-unknown-key",
        lambda f: core("ark", "doubao-embedding-vision-250615"),
        lambda c, f: c.embed([{"audio": "x"}]),
        InvalidInputError,
        "unknown keys",
    ),
    (
        "core-unknown-model",
        lambda f: f,
        lambda c, f: core("tencent", "WeCLIPv9"),
        ConfigurationError,
        "unknown Tencent Cloud model",
    ),
    (
        "core-bad-credential-format",
        lambda f: f,
        lambda c, f: __import__("cn_embeddings").QianfanClient(api_key=" bce-v3/key-with-space "),
        ConfigurationError,
        "whitespace",
    ),
    (
        "lc-empty-doc",
        lambda f: lc("qianfan", "embedding-v1"),
        lambda c, f: c.embed_documents(["a", ""]),
        InvalidInputError,
        "input 1",
    ),
    (
        "lc-image-on-text-model",
        lambda f: lc("ark", "doubao-embedding-text-240715"),
        lambda c, f: c.embed_image([str(f / "ok.png")]),
        ConfigurationError,
        "text-only",
    ),
    (
        "lc-async-too-long",
        lambda f: lc("tencent", "WeCLIPv2-Base"),
        lambda c, f: asyncio.run(c.aembed_documents(["y" * 100])),
        InvalidInputError,
        "at most 72",
    ),
    (
        "lc-tencent-fusion",
        lambda f: lc("tencent", "WeCLIPv2-Large"),
        lambda c, f: c.embed_multimodal([{"text": "t", "image": str(f / "ok.png")}]),
        InvalidInputError,
        "cannot fuse",
    ),
    (
        "lc-bad-dimensions",
        lambda f: f,
        lambda c, f: lc("ark", "doubao-embedding-vision-250615", dimensions=3),
        ConfigurationError,
        "dimensions",
    ),
    ("lc-unknown-model", lambda f: f, lambda c, f: lc("qianfan", "ernie-embed-x"), ConfigurationError, "unknown"),
    (
        "li-empty-text",
        lambda f: li("ark", "doubao-embedding-vision-250615"),
        lambda c, f: c.get_text_embedding_batch(["fine", "  "]),
        InvalidInputError,
        "input 1",
    ),
    (
        "li-image-on-text-model",
        lambda f: li("qianfan", "bge-large-zh"),
        lambda c, f: c.get_image_embedding(str(f / "ok.png")),
        ConfigurationError,
        "text-only",
    ),
    (
        "li-missing-image",
        lambda f: li("tencent", "WeCLIPv2-Base"),
        lambda c, f: asyncio.run(c.aget_image_embedding(str(f / "gone.png"))),
        InvalidInputError,
        "not found",
    ),
    (
        "li-big-image-qianfan",
        lambda f: li("qianfan", "gme-qwen2-vl-2b-instruct"),
        lambda c, f: c.get_image_embedding(png_bytes(pad=10 * 1024 * 1024 + 1)),
        InvalidInputError,
        "at most 10485760",
    ),
    (
        "li-too-long-query",
        lambda f: li("qianfan", "embedding-v1"),
        lambda c, f: c.get_query_embedding("q" * 5000),
        InvalidInputError,
        "at most 1000",
    ),
    (
        "li-data-uri-not-image",
        lambda f: li("ark", "doubao-embedding-vision-250615"),
        lambda c, f: c.get_image_embedding(data_uri(b"hello world")),
        InvalidInputError,
        "format",
    ),
]


@pytest.mark.parametrize("case_id,build,call,error,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_caught_before_any_request(emulator, files, case_id, build, call, error, fragment):
    target = build(files)
    emulator.reset()
    with pytest.raises(error) as info:
        call(target, files)
    assert fragment in str(info.value)
    assert emulator.requests == 0


def test_the_catalogue_is_broad():
    assert len(CASES) >= 30
    prefixes = {c[0].split("-")[0] for c in CASES}
    assert prefixes == {"core", "lc", "li"}


@pytest.mark.parametrize("where", ["query", "document"])
async def test_a_lone_surrogate_in_rerank_is_refused_typed_before_the_wire(emu, where):
    """It escaped as UnicodeEncodeError, sync and async; embedding refused it typed already."""
    reranker = emu.reranker("qianfan")
    query, documents = ("北京\ud800", ["a", "b"]) if where == "query" else ("北京", ["a", "b\ud800c"])
    with pytest.raises(InvalidInputError, match="lone surrogate") as sync:
        reranker.rerank(query, documents)
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        await reranker.arerank(query, documents)
    assert sync.value.index == (None if where == "query" else 1)
    assert emu.requests == 0 and reranker.controller.in_flight == 0
    assert len(reranker.rerank("北京", ["a", "b"]).results) == 2  # the next call goes through


def test_a_lone_surrogate_in_extra_body_is_refused_typed_at_construction(emu):
    with pytest.raises(ConfigurationError, match="extra_body field 'user'.*lone surrogate"):
        emu.client("qianfan", extra_body={"user": "x\udfffy"})
    assert emu.requests == 0


@pytest.mark.parametrize("cls", [QianfanEmbeddings, QianfanEmbedding, ArkEmbeddings, ArkEmbedding])
@pytest.mark.parametrize(
    ("ported", "ours"), [("chunk_size", "batch_size"), ("request_timeout", "timeout"), ("api_base", "base_url")]
)
def test_spellings_ported_from_openai_are_refused_naming_ours(cls, ported, ours):
    """They got pydantic's bare "Extra inputs are not permitted"; the error names our spelling and
    holds no key (a ValueError would have printed every input, the key included)."""
    with pytest.raises(ConfigurationError, match=f"{ported}= is spelt {ours}=") as refused:
        cls(api_key="k-SecretShouldNotShow", **{ported: 5})
    assert "SecretShouldNotShow" not in str(refused.value)


def test_llama_index_additional_kwargs_reads_back():
    embedding = QianfanEmbedding(api_key="k" * 8, additional_kwargs={"user": "u-1"})
    assert embedding.additional_kwargs == {"user": "u-1"} == embedding.extra_body
    assert QianfanEmbeddings(api_key="k" * 8, model_kwargs={"user": "u-2"}).model_kwargs == {"user": "u-2"}
