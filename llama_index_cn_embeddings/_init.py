"""``init_embeddings``: a LlamaIndex embedding object from ``provider:model`` or a config mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cn_embeddings.config import check_options, parse_spec

from ._base import CNEmbeddingBase
from .embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding

CLASSES: dict[str, type[CNEmbeddingBase]] = {"tencent": TencentCloudEmbedding, "qianfan": QianfanEmbedding,
                                              "ark": ArkEmbedding}
# Framework fields that make no sense in a config file.
_NOT_CONFIG = {"callback_manager", "embeddings_cache", "rate_limiter"}


def init_embeddings(spec: str | Mapping[str, Any], *, allow_secrets: bool = False, **kwargs: Any) -> CNEmbeddingBase:
    """The LlamaIndex twin of ``langchain_cn_embeddings.init_embeddings``; ``model`` means ``model_name``."""
    provider, options = parse_spec(spec, kwargs)
    if "model" in options:
        options["model_name"] = options.pop("model")
    cls = CLASSES[provider]
    allowed = (set(cls.model_fields) - _NOT_CONFIG) | set(kwargs)
    check_options(options, allowed, cls.__name__, allow_secrets=allow_secrets, spec=spec)
    return cls(**options)
