"""The three vendors' rerank APIs: pure request building and answer parsing, no I/O.

- Qianfan ``POST /v2/rerank``: Bearer key like ``/v2/embeddings``; at most 64
  documents of 4,096 characters and a query of 1,600 characters; results sorted
  by score, each with its index.
- Tencent Cloud ES ``RunRerank`` (2025-01-01): TC3 and the envelope of the
  embedding actions; no documented document limit (50 per request is ours).
- Volcengine rerank is a VikingDB knowledge-base service, not Ark: another host,
  AK/SK V4 signing (service ``air``, region ``cn-north-1``), at most 50 items
  per call (the SDK's check), and scores in input order.

Each protocol asks for every document's score (never a server-side ``top_n``),
so the client can merge the scores of many requests into one ranking; an
answer that does not score each document of its batch exactly once is a typed
malformed-response error.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from .._exceptions import BadRequestError, InvalidInputError
from .._longtext import has_content
from .._options import Credential, option
from .._ratecontrol import Quota
from .._secret import Secret
from .._types import RerankBatch, Usage
from ..auth.v4 import V4Auth
from . import qianfan, tencent
from ._common import http_error, int_field, json_body, json_request, malformed, openai_payload

__all__ = ["QianfanRerankProtocol", "RerankProtocol", "TencentRerankProtocol", "VolcengineRerankProtocol"]


class RerankProtocol(ABC):
    """One vendor's rerank API for one model (configuration only: safe to print and to share).
    Subclasses are dataclasses of their options; ``__post_init__`` derives ``url``."""

    vendor: ClassVar[str]
    max_documents: ClassVar[int]  # per request
    max_document_chars: ClassVar[int | None] = None
    max_query_chars: ClassVar[int | None] = None
    quota: ClassVar[Quota] = Quota()
    model: str
    url: str

    def check(self, query: Any, documents: Sequence[Any]) -> None:
        """Refuse bad input before any request, naming the item and the rule."""
        if not isinstance(query, str) or not has_content(query):
            raise InvalidInputError("the query is empty (or not a str)", rule="non-empty")
        if self.max_query_chars is not None and len(query) > self.max_query_chars:
            raise InvalidInputError(
                f"the query has {len(query)} characters; {self.vendor} {self.model} accepts at "
                f"most {self.max_query_chars}",
                rule="text-length",
            )
        if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
            raise InvalidInputError("documents must be a list of str", rule="list")
        for index, document in enumerate(documents):
            if not isinstance(document, str):
                raise InvalidInputError(
                    f"a document must be a str, not {type(document).__name__}", index=index, rule="type"
                )
            if not has_content(document):
                raise InvalidInputError("the document is empty", index=index, rule="non-empty")
            if self.max_document_chars is not None and len(document) > self.max_document_chars:
                raise InvalidInputError(
                    f"the document has {len(document)} characters; {self.vendor} {self.model} "
                    f"accepts at most {self.max_document_chars}",
                    index=index,
                    rule="text-length",
                )

    def batch_size(self, requested: int | None) -> int:
        return min(requested or self.max_documents, self.max_documents)

    @abstractmethod
    def build_request(self, query: str, documents: Sequence[str]) -> httpx.Request:
        """The request for one batch of documents, built afresh for every attempt."""

    @abstractmethod
    def parse_response(self, response: httpx.Response, count: int) -> RerankBatch:
        """A score per document of the batch, in its order, or raise the typed APIError."""

    def token_estimate(self, query: str, documents: Sequence[str]) -> float:
        """Each document is read with the query: characters of both (an upper estimate)."""
        return float(sum(len(query) + len(document) for document in documents))


def _in_order(
    pairs: Any, count: int, vendor: str, index_key: str, score_key: str, response: httpx.Response
) -> list[float]:
    """Scores laid out by index: each index of the batch exactly once, each score a finite number."""
    if not isinstance(pairs, list) or len(pairs) != count:
        raise malformed(
            vendor,
            f"expected {count} scored documents, got {len(pairs) if isinstance(pairs, list) else type(pairs).__name__}",
            response,
        )
    scores: list[float | None] = [None] * count
    for pair in pairs:
        index = pair.get(index_key) if isinstance(pair, dict) else None
        score = pair.get(score_key) if isinstance(pair, dict) else None
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count or scores[index] is not None:
            raise malformed(vendor, f"a result has a missing, repeated or out-of-range {index_key}", response)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise malformed(vendor, f"a result's {score_key} is not a finite number", response)
        scores[index] = float(score)
    return scores  # type: ignore[return-value]


# -- Qianfan ----------------------------------------------------------------------------------------


@dataclass
class QianfanRerankProtocol(RerankProtocol):
    vendor = qianfan.VENDOR
    max_documents = 64
    max_document_chars = 4096
    max_query_chars = 1600
    model: str = option(
        "bce-reranker-base", "bce-reranker-base, or a rerank service's API name (qwen3-reranker-8b is seen in use)."
    )
    base_url: str | None = option(
        None, f"The API base; None uses {qianfan.BASE_URL_ENV} or {qianfan.DEFAULT_BASE_URL}."
    )
    app_id: str | None = option(None, "Optional appid header.", aliases=("appid",))

    def __post_init__(self) -> None:
        self.url = (self.base_url or qianfan.DEFAULT_BASE_URL).rstrip("/") + "/rerank"

    def build_request(self, query: str, documents: Sequence[str]) -> httpx.Request:
        body = {"model": self.model, "query": query, "documents": list(documents)}
        return json_request(self.url, body, {"appid": self.app_id} if self.app_id else {})

    def parse_response(self, response: httpx.Response, count: int) -> RerankBatch:
        payload = openai_payload(response, self.vendor, qianfan.parse_error)
        scores = _in_order(payload.get("results"), count, self.vendor, "index", "relevance_score", response)
        usage_raw = payload.get("usage")
        return RerankBatch(
            scores,
            Usage(
                requests=1,
                prompt_tokens=int_field(usage_raw, "prompt_tokens"),
                total_tokens=int_field(usage_raw, "total_tokens"),
            ),
        )


# -- Tencent Cloud ES ---------------------------------------------------------------------------------


@dataclass
class TencentRerankProtocol(RerankProtocol):
    vendor = tencent.VENDOR
    max_documents = 50  # none documented: our default, lowered with batch_size [INF]
    quota = Quota(requests_per_second=1000.0, source="RunRerank: the default API rate, 1000 requests/s")
    model: str = option("bge-reranker-large", "bge-reranker-large or bge-reranker-v2-m3.")
    region: str = option(tencent.DEFAULT_REGION, "Sent as X-TC-Region.")
    base_url: str | None = option(
        None, f"The API host; None uses {tencent.BASE_URL_ENV} or {tencent.DEFAULT_BASE_URL}."
    )
    language: str | None = option("en-US", "X-TC-Language for error messages (zh-CN or en-US; None omits it).")

    def __post_init__(self) -> None:
        self.url = (self.base_url or tencent.DEFAULT_BASE_URL).rstrip("/") + "/"
        self.host = urlsplit(self.url).netloc

    def build_request(self, query: str, documents: Sequence[str]) -> httpx.Request:
        headers = {
            "Host": self.host,
            "X-TC-Action": "RunRerank",
            "X-TC-Version": tencent.API_VERSION,
            "X-TC-Region": self.region,
            **({"X-TC-Language": self.language} if self.language else {}),
        }
        body = {"ModelName": self.model, "Query": query, "Documents": list(documents), "ReturnDocuments": False}
        return json_request(self.url, body, headers)

    def parse_response(self, response: httpx.Response, count: int) -> RerankBatch:
        inner = tencent.response_object(response)
        scores = _in_order(inner.get("Data"), count, self.vendor, "Index", "RelevanceScore", response)
        return RerankBatch(scores, Usage(requests=1, total_tokens=int_field(inner.get("Usage"), "TotalTokens")))


# -- Volcengine (VikingDB knowledge-base rerank) ------------------------------------------------------

VOLCENGINE = "volcengine"
VOLCENGINE_BASE_URL = "https://api-knowledgebase.mlp.cn-beijing.volces.com"
VOLCENGINE_BASE_URL_ENV = "VOLCENGINE_RERANK_BASE_URL"
VOLCENGINE_CREDENTIALS = (  # the names the volcengine SDK reads
    Credential("access_key", "VOLC_ACCESSKEY", "Volcengine access key (AK)", ("ak", "volc_accesskey")),
    Credential("secret_key", "VOLC_SECRETKEY", "Volcengine secret key (SK)", ("sk", "volc_secretkey")),
    Credential("token", "VOLC_SESSION_TOKEN", "session token", ("session_token",), required=False),
)


def volcengine_auth(secrets: Mapping[str, Secret | None], region: str) -> V4Auth:
    access_key, secret_key = secrets["access_key"], secrets["secret_key"]
    assert access_key is not None and secret_key is not None  # required: resolved or refused before this
    return V4Auth(access_key, secret_key, secrets.get("token"), region=region, service="air")


@dataclass
class VolcengineRerankProtocol(RerankProtocol):
    vendor = VOLCENGINE
    max_documents = 50  # the SDK refuses more (the docs say 200)
    model: str = option("base-multilingual-rerank", "doubao-seed-rerank, base-multilingual-rerank or m3-v2-rerank.")
    instruction: str | None = option(None, "rerank_instruction (doubao-seed-rerank; at most 1,024 characters).")
    region: str = option("cn-north-1", "The V4 signing region.")
    base_url: str | None = option(
        None, f"The service host; None uses {VOLCENGINE_BASE_URL_ENV} or {VOLCENGINE_BASE_URL}."
    )

    def __post_init__(self) -> None:
        self.url = (self.base_url or VOLCENGINE_BASE_URL).rstrip("/") + "/api/knowledge/service/rerank"
        self.host = urlsplit(self.url).netloc

    def check(self, query: Any, documents: Sequence[Any]) -> None:
        super().check(query, documents)
        if self.instruction is not None and len(self.instruction) > 1024:
            raise InvalidInputError(
                f"instruction has {len(self.instruction)} characters; at most 1024", rule="text-length"
            )

    def build_request(self, query: str, documents: Sequence[str]) -> httpx.Request:
        body: dict[str, Any] = {
            "datas": [{"query": query, "content": document} for document in documents],
            "rerank_model": self.model,
        }
        if self.instruction:
            body["rerank_instruction"] = self.instruction
        return json_request(self.url, body, {"Host": self.host})

    def parse_response(self, response: httpx.Response, count: int) -> RerankBatch:
        payload = json_body(response, self.vendor) if response.content else None
        if not isinstance(payload, dict):
            if response.status_code != 200:
                raise http_error(response, self.vendor, code=None, message=response.reason_phrase, request_id=None)
            raise malformed(self.vendor, "body is not an object", response)
        code, message = payload.get("code"), str(payload.get("message") or "")
        request_id = payload.get("request_id") if isinstance(payload.get("request_id"), str) else None
        if response.status_code != 200:
            raise http_error(
                response,
                self.vendor,
                code=str(code) if code is not None else None,
                message=message,
                request_id=request_id,
            )
        if code != 0:  # an error with HTTP 200: its codes are not documented, so none is retried [INF]
            raise BadRequestError(
                vendor=self.vendor,
                code=str(code),
                message=message,
                status_code=200,
                request_id=request_id,
                retryable=False,
            )
        data = payload.get("data")
        scores = data.get("scores") if isinstance(data, dict) else None
        if not isinstance(scores, list) or len(scores) != count:
            raise malformed(self.vendor, f"expected {count} scores in input order", response)
        pairs = [{"i": i, "s": score} for i, score in enumerate(scores)]
        ordered = _in_order(pairs, count, self.vendor, "i", "s", response)
        return RerankBatch(ordered, Usage(requests=1, total_tokens=int_field(data, "token_usage")))
