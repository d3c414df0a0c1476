"""LangChain embeddings for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark."""

from ._init import init_embeddings
from .embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings

__all__ = ["ArkEmbeddings", "QianfanEmbeddings", "TencentCloudEmbeddings", "init_embeddings"]
