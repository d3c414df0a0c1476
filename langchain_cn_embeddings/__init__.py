"""LangChain embeddings for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark."""

from .embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings

__all__ = ["ArkEmbeddings", "QianfanEmbeddings", "TencentCloudEmbeddings"]
