"""``init_embeddings``: a LangChain embeddings object from ``provider:model`` or a config mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cn_embeddings.config import check_options, parse_spec

from ._base import CNEmbeddingsBase
from .embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings

CLASSES: dict[str, type[CNEmbeddingsBase]] = {"tencent": TencentCloudEmbeddings, "qianfan": QianfanEmbeddings,
                                               "ark": ArkEmbeddings}


def init_embeddings(spec: str | Mapping[str, Any], *, allow_secrets: bool = False, **kwargs: Any) -> CNEmbeddingsBase:
    """``init_embeddings("ark:doubao-embedding-vision-250615", dimensions=1024)`` or
    ``init_embeddings(yaml.safe_load(open("embeddings.yaml")))``; credentials come from the environment."""
    provider, options = parse_spec(spec, kwargs)
    cls = CLASSES[provider]
    allowed = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
    check_options(options, allowed, cls.__name__, allow_secrets=allow_secrets, spec=spec)
    return cls(**options)
