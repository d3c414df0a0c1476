"""``init_embeddings``: a LangChain embeddings object from ``provider:model`` or a config mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cn_embeddings.config import init_from_spec

from ._base import CNEmbeddingsBase
from .embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings, TokenHubEmbeddings

CLASSES: dict[str, type[CNEmbeddingsBase]] = {
    "tencent": TencentCloudEmbeddings,
    "qianfan": QianfanEmbeddings,
    "ark": ArkEmbeddings,
    "tokenhub": TokenHubEmbeddings,
}


def init_embeddings(spec: str | Mapping[str, Any], *, allow_secrets: bool = False, **kwargs: Any) -> CNEmbeddingsBase:
    """``init_embeddings("ark:doubao-embedding-vision-250615", dimensions=1024)`` or
    ``init_embeddings(yaml.safe_load(open("embeddings.yaml")))``; credentials come from the environment."""
    embeddings: CNEmbeddingsBase = init_from_spec(CLASSES, spec, allow_secrets, kwargs)
    return embeddings
