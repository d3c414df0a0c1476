"""LlamaIndex embeddings for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark, and the three
vendors' rerankers as node postprocessors."""

from ._init import init_embeddings
from .embeddings import ArkEmbedding, QianfanEmbedding, TencentCloudEmbedding, TokenHubEmbedding
from .rate_limiter import QuotaRateLimiter
from .rerank import QianfanRerank, TencentCloudRerank, VolcengineRerank

__all__ = [
    "ArkEmbedding",
    "QianfanEmbedding",
    "QianfanRerank",
    "QuotaRateLimiter",
    "TencentCloudEmbedding",
    "TencentCloudRerank",
    "TokenHubEmbedding",
    "VolcengineRerank",
    "init_embeddings",
]
