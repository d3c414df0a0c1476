"""cn_embeddings: the framework-free core behind the LangChain and LlamaIndex integrations
for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark embeddings, and the three vendors'
rerank services.

Logs go to the ``cn_embeddings`` logger, silent unless the application configures logging (a
``NullHandler``, as the Python logging HOWTO advises libraries): INFO for quota pauses and rate
changes, DEBUG for each retry, WARNING for a call that fails."""

import logging

from ._cache import EmbeddingCache
from ._client import EmbeddingClient
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BulkError,
    CallRecord,
    CNEmbeddingsError,
    ConfigurationError,
    InvalidInputError,
    RateLimitError,
    ServerError,
    Stopped,
)
from ._flow import Cancel
from ._inputs import Item, Media
from ._rerank import RerankClient
from ._secret import Secret
from ._space import Space
from ._tokens import use_vocabulary
from ._types import EmbeddingResult, Ranked, RerankResult, Usage
from ._version import __version__
from .clients import ArkClient, QianfanClient, TencentCloudClient, TokenHubClient
from .rerankers import QianfanRerankClient, TencentCloudRerankClient, VolcengineRerankClient

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "ArkClient",
    "AuthenticationError",
    "BadRequestError",
    "BulkError",
    "CNEmbeddingsError",
    "CallRecord",
    "Cancel",
    "ConfigurationError",
    "EmbeddingCache",
    "EmbeddingClient",
    "EmbeddingResult",
    "InvalidInputError",
    "Item",
    "Media",
    "QianfanClient",
    "QianfanRerankClient",
    "Ranked",
    "RateLimitError",
    "RerankClient",
    "RerankResult",
    "Secret",
    "ServerError",
    "Space",
    "Stopped",
    "TencentCloudClient",
    "TencentCloudRerankClient",
    "TokenHubClient",
    "Usage",
    "VolcengineRerankClient",
    "__version__",
    "use_vocabulary",
]

logging.getLogger("cn_embeddings").addHandler(logging.NullHandler())
