"""LlamaIndex node postprocessors over the three vendors' rerank services.

Each class is a ``BaseNodePostprocessor`` with native async. Node text is taken
as LlamaIndex's own rerankers take it (``MetadataMode.EMBED``), the scores go
into ``NodeWithScore.score``, and the rerank events fire: the instrumentation
``ReRankStartEvent`` / ``ReRankEndEvent`` and the callback manager's
``RERANKING`` event.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from pydantic import ConfigDict, Field, model_validator

from cn_embeddings import RerankResult
from cn_embeddings._adapters import AdapterMixin, RerankClients
from cn_embeddings._settings import QianfanRerankSettings, TencentRerankSettings, VolcengineRerankSettings

from ._base import model_name_field

__all__ = ["QianfanRerank", "TencentCloudRerank", "VolcengineRerank"]

dispatcher = get_dispatcher(__name__)


class CNRerankBase(RerankClients, AdapterMixin, BaseNodePostprocessor):
    kind = "rerank"
    model_field = "model_name"
    http_fields = ("http_client", "async_http_client")

    top_n: int | None = 3
    http_client: Any = Field(default=None, exclude=True)
    async_http_client: Any = Field(default=None, exclude=True)

    model_config = ConfigDict(
        populate_by_name=True, arbitrary_types_allowed=True, extra="forbid", protected_namespaces=()
    )

    @model_validator(mode="after")
    def _check_configuration(self) -> CNRerankBase:
        self._clients()
        return self

    @classmethod
    def class_name(cls) -> str:
        return cls.__name__

    def _texts(self, nodes: list[NodeWithScore]) -> list[str]:
        return [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]

    def _start(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> None:
        if query_bundle is None:
            raise ValueError("a rerank needs the query (query_bundle)")
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=self.top_n or len(nodes),
                model_name=getattr(self, self.model_field),
            )
        )

    def _event(self, nodes: list[NodeWithScore], query_bundle: QueryBundle) -> Any:
        return self.callback_manager.event(
            CBEventType.RERANKING,
            payload={
                EventPayload.NODES: nodes,
                EventPayload.MODEL_NAME: getattr(self, self.model_field),
                EventPayload.QUERY_STR: query_bundle.query_str,
                EventPayload.TOP_K: self.top_n,
            },
        )

    def _finish(self, nodes: list[NodeWithScore], result: RerankResult, event: Any) -> list[NodeWithScore]:
        ranked = [NodeWithScore(node=nodes[r.index].node, score=r.relevance_score) for r in result.results]
        event.on_end(payload={EventPayload.NODES: ranked})
        dispatcher.event(ReRankEndEvent(nodes=ranked))
        return ranked

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        self._start(nodes, query_bundle)
        assert query_bundle is not None
        if not nodes:
            return []
        with self._event(nodes, query_bundle) as event:
            return self._finish(
                nodes, self.client.rerank(query_bundle.query_str, self._texts(nodes), self.top_n), event
            )

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        self._start(nodes, query_bundle)
        assert query_bundle is not None
        if not nodes:
            return []
        with self._event(nodes, query_bundle) as event:
            result = await self.client.arerank(query_bundle.query_str, self._texts(nodes), self.top_n)
            return self._finish(nodes, result, event)


class QianfanRerank(CNRerankBase, QianfanRerankSettings):
    """Baidu Qianfan ``/v2/rerank`` (``bce-reranker-base``); ``QIANFAN_API_KEY``."""

    vendor = "qianfan"

    model_name: str = model_name_field("bce-reranker-base")
    """bce-reranker-base, or a rerank service's API name (qwen3-reranker-8b is seen in use)."""


class TencentCloudRerank(CNRerankBase, TencentRerankSettings):
    """Tencent Cloud ES ``RunRerank``; ``TENCENTCLOUD_SECRET_ID`` / ``TENCENTCLOUD_SECRET_KEY``."""

    vendor = "tencent"

    model_name: str = model_name_field("bge-reranker-large")
    """bge-reranker-large or bge-reranker-v2-m3."""


class VolcengineRerank(CNRerankBase, VolcengineRerankSettings):
    """Volcengine VikingDB knowledge-base rerank; ``VOLC_ACCESSKEY`` / ``VOLC_SECRETKEY``."""

    vendor = "volcengine"

    model_name: str = model_name_field("base-multilingual-rerank")
    """doubao-seed-rerank, base-multilingual-rerank or m3-v2-rerank."""
