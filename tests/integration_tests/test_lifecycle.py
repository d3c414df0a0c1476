"""Objects users copy, ship, reconfigure, share and close; one declaration for every option."""

from __future__ import annotations

import asyncio
import copy
import gc
import io
import multiprocessing
import pickle
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import httpx
import pytest

import cn_embeddings
from cn_embeddings import CNEmbeddingsError, ConfigurationError, QianfanClient
from cn_embeddings.cli import build_parser, cli_options
from cn_embeddings.clients import CLIENTS, DEFAULT_MODELS, credentials_of
from cn_embeddings.testing import Faults
from langchain_cn_embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings
from langchain_cn_embeddings import init_embeddings as lc_init
from llama_index_cn_embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding
from llama_index_cn_embeddings import init_embeddings as li_init
from tests._servers import credentials, shared_emulator

LANGCHAIN = {"tencent": TencentCloudEmbeddings, "qianfan": QianfanEmbeddings, "ark": ArkEmbeddings}
LLAMA = {"tencent": TencentCloudEmbedding, "qianfan": QianfanEmbedding, "ark": ArkEmbedding}
VENDORS = ("tencent", "qianfan", "ark")
TEXTS = [f"第{i}段文字 about topic {i}" for i in range(40)]


def _field(cls, name):
    return cls.model_fields[name]


# -- one declaration per option (the fields themselves: tests/unit_tests/test_declarations.py) --


@pytest.mark.parametrize("vendor", VENDORS)
def test_each_option_set_from_either_framework_or_the_cli_reaches_the_core_client(vendor, monkeypatch):
    """A non-default value for every option, through each entry point, ends up in the client."""
    values = {
        "tencent": {"max_text_chars": 50, "region": "ap-shanghai", "language": None, "api": "multimodal"},
        "qianfan": {"app_id": "app-1", "user": "u-1", "api": "text"},
        "ark": {
            "sparse": True,
            "client_side_dimensions": True,
            "dimensions": 1024,
            "user": "u-2",
            "instructions": "doc",
            "query_instructions": "query",
            "encoding_format": "float",
            "api": "multimodal",
        },
    }[vendor]
    values |= {
        "timeout": 7.0,
        "max_retries": 1,
        "max_concurrency": 3,
        "requests_per_second": 4.0,
        "batch_size": 1,
        "truncate": True,
        "default_headers": {"X-Trace": "1"},
    }
    settings = credentials(vendor)
    for env in (c.env for c in credentials_of(vendor)):
        monkeypatch.delenv(env, raising=False)

    def check(client):
        for name, value in values.items():
            target = client.options if hasattr(client.options, name) else client.protocol
            got = getattr(target, name)
            assert got == value, name

    check(LANGCHAIN[vendor](**settings, **values).client)
    check(LLAMA[vendor](**settings, **values).client)
    check(lc_init({"provider": vendor, **values}, **settings).client)
    check(li_init({"provider": vendor, **values}, **settings).client)
    from cn_embeddings.cli import options_from_args

    argv = ["check", "--provider", vendor]
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if value is True and cli_options()[name].type is bool:
            argv.append(flag)
        elif isinstance(value, dict):
            argv += [flag, "X-Trace: 1"]
        elif value is None or isinstance(value, bool):
            if value is None:
                continue  # None is the flag's 'not given'
            argv += [flag, str(value).lower()]
        else:
            argv += [flag, str(value)]
    options = options_from_args(build_parser().parse_args(argv), vendor)
    check(CLIENTS[vendor](**settings, **options, **({"language": None} if vendor == "tencent" else {})))


def test_a_flag_of_another_vendor_is_refused_by_name():
    from cn_embeddings.cli import options_from_args

    args = build_parser().parse_args(["check", "--provider", "qianfan", "--dimensions", "1024"])
    with pytest.raises(ConfigurationError, match="--dimensions: not an option of qianfan"):
        options_from_args(args, "qianfan")


def test_default_models_and_version_live_in_one_place():
    for vendor in VENDORS:
        assert LANGCHAIN[vendor].model_fields["model"].default == DEFAULT_MODELS[vendor]
        assert LLAMA[vendor].model_fields["model_name"].default == DEFAULT_MODELS[vendor]
        assert CLIENTS[vendor](**credentials(vendor)).protocol.model == DEFAULT_MODELS[vendor]
    from importlib.metadata import version

    from cn_embeddings._core import USER_AGENT

    assert version("cn-embeddings") == cn_embeddings.__version__ and USER_AGENT.endswith(cn_embeddings.__version__)


def test_core_clients_refuse_unknown_options_by_name():
    with pytest.raises(ConfigurationError, match="'max_retry'"):
        QianfanClient(api_key="k" * 8, max_retry=0)


# -- strict LlamaIndex classes ----------------------------------------------------------------


def test_llama_index_classes_are_strict_and_take_the_langchain_aliases(emu):
    from pydantic import ValidationError

    settings = credentials("qianfan")
    for bad in ({"max_retry": 0}, {"timout": 1}):
        with pytest.raises(ValidationError, match=next(iter(bad))):
            QianfanEmbedding(**settings, **bad)
    emb = QianfanEmbedding(model="bge-large-zh", **settings)
    emb.get_text_embedding("你好")
    assert emu.seen[-1].model == "bge-large-zh"
    ark = ArkEmbedding(ark_api_key="not-the-emulator-key", base_url=shared_emulator().ark_url)
    assert ark.api_key.get_secret_value() == "not-the-emulator-key"
    with pytest.raises(CNEmbeddingsError):  # the key given is the one sent, and the emulator refuses it
        ark.get_text_embedding("x")
    with pytest.raises(ConfigurationError, match="'max_retry'"):
        li_init({"provider": "qianfan", "max_retry": 0}, **settings)


# -- copy, pickle, reconfigure ----------------------------------------------------------------


def _objects(vendor):
    settings = credentials(vendor)
    return [CLIENTS[vendor](**settings), LANGCHAIN[vendor](**settings), LLAMA[vendor](**settings)]


def _embed(obj, texts):
    if hasattr(obj, "embed_documents"):
        return obj.embed_documents(texts)
    if hasattr(obj, "get_text_embedding_batch"):
        return obj.get_text_embedding_batch(texts)
    return obj.embed_texts(texts)


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_public_object_survives_pickle_and_deepcopy_and_works(vendor, emu):
    for obj in _objects(vendor):
        expected = _embed(obj, TEXTS[:3])
        for twin in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj), copy.copy(obj)):
            assert type(twin) is type(obj)
            assert _embed(twin, TEXTS[:3]) == expected
        obj.close()


def _embed_in_worker(obj):
    return _embed(obj, TEXTS[:2])


def _fail_in_worker(obj):
    return _embed(obj, TEXTS[:2])


def test_objects_and_errors_cross_a_process_boundary(emu):
    """A spawn pool (what macOS, Windows, Ray and Spark use): the object travels with its
    credentials, builds its own connections, and a failure arrives as the typed error."""
    objects = [
        QianfanClient(**credentials("qianfan")),
        QianfanEmbeddings(**credentials("qianfan")),
        QianfanEmbedding(**credentials("qianfan")),
    ]
    expected = _embed(objects[0], TEXTS[:2])
    broken = QianfanEmbeddings(api_key="wrong-key-0000", base_url=credentials("qianfan")["base_url"], max_retries=0)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert [f.result() for f in [pool.submit(_embed_in_worker, o) for o in objects]] == [expected] * 3
        with pytest.raises(cn_embeddings.AuthenticationError) as caught:
            pool.submit(_fail_in_worker, broken).result()
    assert caught.value.vendor == "qianfan" and caught.value.not_embedded == [0, 1]
    assert "wrong-key-0000" not in str(caught.value)


@pytest.mark.parametrize(
    "error",
    [
        cn_embeddings.InvalidInputError("bad", index=3, rule="text-length"),
        cn_embeddings.ConfigurationError("bad config"),
        cn_embeddings.APIConnectionError("ark", "reset"),
        cn_embeddings.APITimeoutError("ark"),
        cn_embeddings.RateLimitError(
            vendor="tencent",
            code="RequestLimitExceeded",
            message="slow",
            status_code=200,
            request_id="r-1",
            retryable=True,
            retry_after=2.0,
        ),
        cn_embeddings.AuthenticationError(vendor="ark", code="AuthenticationError", message="no", status_code=401),
        cn_embeddings.BadRequestError(vendor="qianfan", code="invalid", message="no", hint="look"),
        cn_embeddings.ServerError(vendor="qianfan", code="http_500", message="boom"),
    ],
)
def test_every_error_pickles_with_its_record(error):
    from cn_embeddings._exceptions import attach_record

    attach_record(error, cn_embeddings.CallRecord([0, 1], [2, 3], [2], {0: [0.5], 1: [0.25]}, attempts=2))
    twin = pickle.loads(pickle.dumps(error))
    assert type(twin) is type(error) and str(twin) == str(error) and twin.__dict__ == error.__dict__
    assert copy.deepcopy(error).__dict__ == error.__dict__


def test_configuration_changes_take_effect_on_the_next_call(emu):
    settings = credentials("qianfan")
    emb = QianfanEmbeddings(**settings)
    emb.embed_query("a")
    copied = emb.model_copy(update={"model": "bge-large-zh"})
    copied.embed_query("a")
    assert emu.seen[-1].model == "bge-large-zh" and copied.client.protocol.model == "bge-large-zh"
    emb.embed_query("a")
    assert emu.seen[-1].model == "embedding-v1"  # the original is untouched
    emb.model = "bge-large-en"
    emb.embed_query("a")
    assert emu.seen[-1].model == "bge-large-en"
    emu.faults.script("server_error")
    emb.max_retries = 0
    before = emu.requests
    with pytest.raises(cn_embeddings.ServerError):
        emb.embed_query("a")
    assert emu.requests == before + 1  # no retry: max_retries=0 applied
    li = QianfanEmbedding(**settings)
    li.model_name = "bge-large-zh"
    li.get_query_embedding("q")
    assert emu.seen[-1].model == "bge-large-zh"
    assert emb.usage.requests == 4  # usage survives the rebuilds, the failed call included


# -- failed calls keep their value ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_failed_call_hands_back_every_paid_vector_and_counts_usage(emu, mode):
    with emu.client("qianfan", max_concurrency=1, max_retries=0, zero_waits=True) as first:
        clean = first.embed_texts(TEXTS)
    client = emu.client("qianfan", max_concurrency=1, max_retries=0, zero_waits=True)
    emu.faults.script("auth", after=1)  # the second of three requests (16, 16, 8 texts) fails
    with pytest.raises(cn_embeddings.AuthenticationError) as caught:
        if mode == "sync":
            client.embed_texts(TEXTS)
        else:
            asyncio.run(client.aembed_texts(TEXTS))
    error = caught.value
    assert sorted(error.partial_vectors) == error.embedded == list(range(16))
    assert all(error.partial_vectors[i] == clean[i] for i in range(16))
    assert error.failed == list(range(16, 32)) and error.not_embedded == list(range(16, 40))
    usage = client.usage
    assert usage.requests == 2 and usage.total_tokens > 0  # the answered batch was billed and counted


def test_nothing_embedded_means_empty_partial_vectors(emu):
    client = emu.client("ark", max_retries=0)
    emu.faults.script("auth")
    with pytest.raises(cn_embeddings.AuthenticationError) as caught:
        client.embed_texts(["only one"])
    assert caught.value.partial_vectors == {} and client.usage.requests == 1


# -- one quota per account and model ----------------------------------------------------------


def test_objects_for_one_account_and_model_share_one_limiter():
    settings = credentials("tencent")
    lc, li, core = TencentCloudEmbeddings(**settings), TencentCloudEmbedding(**settings), CLIENTS["tencent"](**settings)
    assert lc.client.controller is li.client.controller is core.controller
    assert pickle.loads(pickle.dumps(core)).controller is core.controller  # rejoins the quota of this process
    other_model = TencentCloudEmbeddings(**settings, model="WeCLIPv2-Large")
    other_account = TencentCloudEmbeddings(**{**settings, "secret_id": "AKIDSOMEONEELSE0"})
    assert other_model.client.controller is not lc.client.controller
    assert other_account.client.controller is not lc.client.controller
    assert settings["secret_id"] not in repr(core.quota_key)


@pytest.mark.slow  # runs against the wall clock
def test_two_objects_together_keep_the_vendor_quota(emu):
    """A LangChain and a LlamaIndex object calling at once stay within one 20 requests/s quota."""
    emu.faults = Faults(qps=20)
    settings = credentials("tencent")
    lc = TencentCloudEmbeddings(**settings, requests_per_second=18, batch_size=1, max_concurrency=4, zero_waits=True)
    li = TencentCloudEmbedding(**settings, requests_per_second=18, batch_size=1, max_concurrency=4, zero_waits=True)
    time.sleep(1.1)  # a full bucket at the emulator
    threads = [
        threading.Thread(target=lc.embed_documents, args=(TEXTS[:20],)),
        threading.Thread(target=li.get_text_embedding_batch, args=(TEXTS[20:40],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    throttled = sum(1 for s in emu.seen if s.fault == "quota" or s.status == 429 or not s.ok)
    assert len([s for s in emu.seen if s.ok]) == 40 and throttled == 0


# -- closing ------------------------------------------------------------------------------------


def test_no_resource_warning_across_repeated_asyncio_runs(emu):
    client = emu.client("qianfan")
    lc = QianfanEmbeddings(**credentials("qianfan"))
    with warnings.catch_warnings():  # objects of earlier tests that were never closed are not this test's business
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(5):
            asyncio.run(client.aembed_texts(TEXTS[:3]))
            asyncio.run(lc.aembed_documents(TEXTS[:3]))
        client.close()
        lc.close()
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_close_closes_sync_and_async_connections_and_objects_stay_usable(emu):
    client = emu.client("ark")
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(client.aembed_texts(["a"]))
        client.embed_texts(["b"])
        assert not client.is_closed
        client.close()  # from sync code: the AsyncClient is closed in its own loop
        loop.run_until_complete(asyncio.sleep(0))  # the close scheduled in that loop runs
        assert client.is_closed
        assert client.embed_texts(["c"]) and loop.run_until_complete(client.aembed_texts(["d"]))
        assert not client.is_closed
        loop.run_until_complete(client.aclose())  # and aclose() closes the sync client too
        assert client.is_closed
    finally:
        loop.close()
    for cls in (ArkEmbeddings, ArkEmbedding):
        with cls(**credentials("ark")) as emb:
            core = emb.client
            core.embed_texts(["x"])
            assert not core.is_closed
        assert core.is_closed

        async def use(cls=cls):
            async with cls(**credentials("ark")) as emb:
                await emb.client.aembed_texts(["y"])
                assert not emb.client.is_closed
                return emb.client

        assert asyncio.run(use()).is_closed


def test_a_user_http_client_is_not_closed_and_not_pickled(emu):
    user = httpx.Client()
    emb = QianfanEmbeddings(**credentials("qianfan"), http_client=user)
    emb.embed_query("a")
    emb.close()
    assert not user.is_closed
    twin = pickle.loads(pickle.dumps(emb))
    assert twin.http_client is None and twin.embed_query("a")
    assert copy.deepcopy(emb).http_client is user
    user.close()


# -- the LlamaIndex path: validate and read once, keep max_concurrency in flight -----------------


class CountingImage(io.BytesIO):
    reads = 0

    def read(self, *args):
        CountingImage.reads += 1
        return super().read(*args)


def test_llama_index_reads_each_image_once_and_validates_once(emu, images, monkeypatch):
    emb = QianfanEmbedding(**credentials("qianfan"), model="gme-qwen2-vl-2b-instruct")
    files = [CountingImage(p.read_bytes()) for p in images]
    CountingImage.reads = 0
    calls = []
    client = emb.client
    validate = client.validate
    monkeypatch.setattr(client, "validate", lambda inputs, **kw: calls.append(len(inputs)) or validate(inputs, **kw))
    vectors = emb.get_image_embedding_batch(files)
    assert len(vectors) == 3 and CountingImage.reads == 3
    assert calls[0] == 3  # the whole call, first; the hooks then send the checked items
    assert calls == [3]  # and do not check them again
    vectors_again = asyncio.run(emb.aget_image_embedding_batch(files))
    assert vectors_again == vectors and CountingImage.reads == 6


def test_llama_index_batch_validation_holds_when_its_batches_are_copies(emu, monkeypatch):
    """A batch call is checked once even when LlamaIndex hands the hooks equal strings that are not
    the objects the caller passed (validation is keyed by value, not by identity)."""
    emb = QianfanEmbedding(**credentials("qianfan"))
    client = emb.client
    checks = []
    validate = client.validate
    monkeypatch.setattr(client, "validate", lambda inputs, **kw: checks.append(len(inputs)) or validate(inputs, **kw))
    texts = [f"文本 {i}" for i in range(5)] + ["文本 0"]
    with emb._checked(texts, "text"):
        copies = ["".join(list(t)) for t in reversed(texts)]
        assert all(c == t and c is not t for c, t in zip(copies, reversed(texts), strict=True))
        vectors = emb._get_text_embeddings(copies)
    assert checks == [6]
    assert vectors == list(reversed(emb.client.embed_texts(texts)))


@pytest.mark.slow  # runs against the wall clock
def test_llama_index_sync_batch_keeps_max_concurrency_requests_in_flight():
    in_flight, peak, lock = [0], [0], threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        n = len(json.loads(request.content)["input"])
        return httpx.Response(
            200,
            json={
                "data": [{"index": i, "embedding": [0.1, 0.2]} for i in range(n)],
                "usage": {"prompt_tokens": n, "total_tokens": n},
            },
        )

    emb = QianfanEmbedding(
        api_key="test-key-123",
        max_concurrency=4,
        requests_per_second=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    assert emb.embed_batch_size == 16 * 4
    assert len(emb.get_text_embedding_batch(TEXTS * 4)) == 160
    assert peak[0] == 4
