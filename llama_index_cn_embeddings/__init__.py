"""LlamaIndex embeddings for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark."""

from ._init import init_embeddings
from .embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding

__all__ = ["ArkEmbedding", "QianfanEmbedding", "TencentCloudEmbedding", "init_embeddings"]
