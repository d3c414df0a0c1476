"""LangChain embeddings for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark, and the three
vendors' rerankers as document compressors."""

from ._init import init_embeddings
from .embeddings import ArkEmbeddings, QianfanEmbeddings, TencentCloudEmbeddings, TokenHubEmbeddings
from .rerank import QianfanRerank, TencentCloudRerank, VolcengineRerank

__all__ = [
    "ArkEmbeddings",
    "QianfanEmbeddings",
    "QianfanRerank",
    "TencentCloudEmbeddings",
    "TencentCloudRerank",
    "TokenHubEmbeddings",
    "VolcengineRerank",
    "init_embeddings",
]
