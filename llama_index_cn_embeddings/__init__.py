"""LlamaIndex embeddings for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark."""

from .embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding

__all__ = ["ArkEmbedding", "QianfanEmbedding", "TencentCloudEmbedding"]
