"""Construction from provider:model strings and config mappings, and config round trips."""

from __future__ import annotations

import pytest
import yaml
from langchain_core.load import dumps, loads

import langchain_cn_embeddings as lc
import llama_index_cn_embeddings as li
from cn_embeddings import ConfigurationError
from tests._servers import credentials

YAML = """
provider: ark
model: doubao-embedding-vision-250615
dimensions: 1024
max_concurrency: 4
query_instructions: "Target_modality: text. Query:"
"""


def test_provider_model_strings_for_both_frameworks(monkeypatch):
    monkeypatch.setenv("ARK_API_KEY", "k")
    monkeypatch.setenv("QIANFAN_API_KEY", "k")
    emb = lc.init_embeddings("ark:doubao-embedding-vision-250615", dimensions=1024)
    assert isinstance(emb, lc.ArkEmbeddings) and emb.dimensions == 1024
    twin = li.init_embeddings("ark:doubao-embedding-vision-250615", dimensions=1024)
    assert isinstance(twin, li.ArkEmbedding) and twin.model_name == "doubao-embedding-vision-250615"
    assert isinstance(lc.init_embeddings("baidu:tao-8k"), lc.QianfanEmbeddings)


def test_yaml_mapping_builds_working_objects(monkeypatch):
    creds = credentials("ark")
    monkeypatch.setenv("ARK_API_KEY", creds["api_key"])
    config = yaml.safe_load(YAML)
    for module in (lc, li):
        emb = module.init_embeddings(config, base_url=creds["base_url"])
        vector = emb.embed_query("x") if module is lc else emb.get_query_embedding("x")
        assert len(vector) == 1024


@pytest.mark.parametrize(
    "spec,match",
    [
        ("ark", "provider:model"),
        ("openai:text-embedding-3", "unknown provider"),
        ({"model": "x"}, "needs a 'provider'"),
        ({"provider": "ark", "model": "doubao-embedding-vision-250615", "dimension": 1024}, "'dimension'"),
        ({"provider": "qianfan", "api_key": "bce-v3/ALTAK-literal"}, "literal credential"),
    ],
)
def test_bad_configs_are_rejected_by_name(spec, match, monkeypatch):
    monkeypatch.setenv("ARK_API_KEY", "k")
    for module in (lc, li):
        with pytest.raises(ConfigurationError, match=match):
            module.init_embeddings(spec)


def test_literal_secret_allowed_only_when_opted_in():
    emb = lc.init_embeddings({"provider": "qianfan", "api_key": "literal"}, allow_secrets=True)
    assert emb.api_key.get_secret_value() == "literal"


def test_round_trips_give_equivalent_working_objects(monkeypatch):
    creds = credentials("qianfan")
    monkeypatch.setenv("QIANFAN_API_KEY", creds["api_key"])
    emb = lc.init_embeddings("qianfan:bge-large-zh", base_url=creds["base_url"], batch_size=8)
    again = loads(
        dumps(emb),
        secrets_from_env=True,
        valid_namespaces=["langchain_cn_embeddings"],
        allowed_objects=[lc.QianfanEmbeddings],
    )
    assert again.model_dump() == emb.model_dump() and again.embed_query("x") == emb.embed_query("x")
    model = li.init_embeddings("qianfan:bge-large-zh", base_url=creds["base_url"], embed_batch_size=8)
    rebuilt = li.QianfanEmbedding.from_json(model.to_json())
    assert rebuilt.to_dict() == model.to_dict() and rebuilt.get_text_embedding("x") == model.get_text_embedding("x")
