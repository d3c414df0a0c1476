"""langchain-tests standard integration suites: live against the emulator, and replayed from cassettes."""

from __future__ import annotations

import langchain_tests  # noqa: E402, F401 - a test dependency: missing, the module fails to import
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests  # noqa: E402

from langchain_cn_embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings  # noqa: E402
from tests._servers import credentials  # noqa: E402
from tests.cassettes import REPLAY_BASE_URLS, record_mode, use_cassette  # noqa: E402

CLASSES = {
    "tencent": (TencentCloudEmbeddings, "WeCLIPv2-Base"),
    "qianfan": (QianfanEmbeddings, "embedding-v1"),
    "ark": (ArkEmbeddings, "doubao-embedding-vision-250615"),
}
FAKE = {
    "tencent": {"secret_id": "AKIDreplay", "secret_key": "replay-key"},
    "qianfan": {"api_key": "replay-key"},
    "ark": {"api_key": "replay-key"},
}


class _EmulatorSuite(EmbeddingsIntegrationTests):
    vendor = ""

    @property
    def embeddings_class(self):
        return CLASSES[self.vendor][0]

    @property
    def embedding_model_params(self) -> dict:
        return {"model": CLASSES[self.vendor][1], **credentials(self.vendor)}


class TestTencentCloudEmbeddingsEmulator(_EmulatorSuite):
    vendor = "tencent"


class TestQianfanEmbeddingsEmulator(_EmulatorSuite):
    vendor = "qianfan"


class TestArkEmbeddingsEmulator(_EmulatorSuite):
    vendor = "ark"


class _CassetteSuite(_EmulatorSuite):
    """Same suite, but every request is answered from cassettes/<vendor>/ (no server runs)."""

    @property
    def embedding_model_params(self) -> dict:
        if record_mode() == "emulator":
            return super().embedding_model_params
        if record_mode() == "live":
            return {"model": CLASSES[self.vendor][1]}  # credentials from the environment
        return {"model": CLASSES[self.vendor][1], "base_url": REPLAY_BASE_URLS[self.vendor], **FAKE[self.vendor]}

    @pytest.fixture(autouse=True)
    def _cassette(self, request):
        with use_cassette(self.vendor, f"langchain_{request.node.name}"):
            yield


class TestTencentCloudEmbeddingsCassette(_CassetteSuite):
    vendor = "tencent"


class TestQianfanEmbeddingsCassette(_CassetteSuite):
    vendor = "qianfan"


class TestArkEmbeddingsCassette(_CassetteSuite):
    vendor = "ark"
