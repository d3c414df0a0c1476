"""langchain-tests standard unit suites for the three LangChain classes."""

from __future__ import annotations

import langchain_tests  # noqa: E402, F401 - a test dependency: missing, the module fails to import
from langchain_tests.unit_tests import EmbeddingsUnitTests  # noqa: E402

from langchain_cn_embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings  # noqa: E402


class TestTencentCloudEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self):
        return TencentCloudEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": "WeCLIPv2-Base", "secret_id": "AKIDunit", "secret_key": "unit-key"}

    @property
    def init_from_env_params(self):
        return (
            {"TENCENTCLOUD_SECRET_ID": "AKIDenv", "TENCENTCLOUD_SECRET_KEY": "env-key"},
            {"model": "bge-m3"},
            {"secret_id": "AKIDenv", "secret_key": "env-key", "model": "bge-m3"},
        )


class TestQianfanEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self):
        return QianfanEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": "embedding-v1", "api_key": "unit-key"}

    @property
    def init_from_env_params(self):
        return ({"QIANFAN_API_KEY": "env-key"}, {"model": "tao-8k"}, {"api_key": "env-key", "model": "tao-8k"})


class TestArkEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self):
        return ArkEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": "doubao-embedding-vision-250615", "api_key": "unit-key"}

    @property
    def init_from_env_params(self):
        return ({"ARK_API_KEY": "env-key"}, {"dimensions": 1024}, {"api_key": "env-key", "dimensions": 1024})
