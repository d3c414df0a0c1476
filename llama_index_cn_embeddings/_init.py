"""``init_embeddings``: a LlamaIndex embedding object from ``provider:model`` or a config mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cn_embeddings.config import init_from_spec

from ._base import CNEmbeddingBase
from .embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding, TokenHubEmbedding

CLASSES: dict[str, type[CNEmbeddingBase]] = {
    "tencent": TencentCloudEmbedding,
    "qianfan": QianfanEmbedding,
    "ark": ArkEmbedding,
    "tokenhub": TokenHubEmbedding,
}


def init_embeddings(spec: str | Mapping[str, Any], *, allow_secrets: bool = False, **kwargs: Any) -> CNEmbeddingBase:
    """The LlamaIndex twin of ``langchain_cn_embeddings.init_embeddings`` (``model`` means ``model_name``)."""
    embeddings: CNEmbeddingBase = init_from_spec(CLASSES, spec, allow_secrets, kwargs)
    return embeddings
