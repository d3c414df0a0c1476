"""cn_embeddings: the framework-free core behind the LangChain and LlamaIndex integrations
for Tencent Cloud ES, Baidu Qianfan v2 and Volcengine Ark embeddings."""

from ._client import EmbeddingClient
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CNEmbeddingsError,
    ConfigurationError,
    InvalidInputError,
    RateLimitError,
    ServerError,
    Stopped,
)
from ._flow import Cancel
from ._inputs import Item, Media
from ._secret import Secret
from ._types import EmbeddingResult, Usage
from ._version import __version__
from .clients import ArkClient, QianfanClient, TencentCloudClient

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "ArkClient",
    "AuthenticationError",
    "BadRequestError",
    "CNEmbeddingsError",
    "Cancel",
    "ConfigurationError",
    "EmbeddingClient",
    "EmbeddingResult",
    "InvalidInputError",
    "Item",
    "Media",
    "QianfanClient",
    "RateLimitError",
    "Secret",
    "ServerError",
    "Stopped",
    "TencentCloudClient",
    "Usage",
    "__version__",
]
