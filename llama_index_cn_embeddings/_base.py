"""What the three LlamaIndex classes share: the core client and the embedding hooks.

The configuration fields are generated from the option declarations
(``cn_embeddings._settings``, checked against the declarations), so unknown keywords are refused
by name, ``model=`` is accepted for ``model_name`` and the credentials take
the same aliases as in LangChain.

Only the private hooks and the batch entry points are implemented, so
LlamaIndex's public methods keep firing their dispatcher events and
callback-manager EMBEDDING events (with the chunks that TokenCountingHandler
counts). A batch call is validated once, before its first request, and the
items it produced (images already read) are what the hooks then send.
"""

from __future__ import annotations

import contextvars
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import ImageType
from pydantic import AliasChoices, ConfigDict, Field, model_validator

from cn_embeddings._adapters import AdapterMixin, EmbeddingClients
from cn_embeddings._exceptions import ConfigurationError
from cn_embeddings._inputs import Item, Prepared
from cn_embeddings._progress import progress_bar

Embedding = list[float]

# The items of the batch call in progress, by the value the caller passed (equal values give equal
# items, so a hook takes any of them; LlamaIndex may copy or reorder its batches).
_CHECKED: contextvars.ContextVar[dict[Any, deque[Item]] | None] = contextvars.ContextVar(
    "cn_embeddings_checked", default=None
)


# The progress bar of the batch call in progress (LlamaIndex's own moves once per LlamaIndex batch,
# and one batch here is up to max_concurrency vendor requests: it would sit at 0 for a whole call)
_BAR: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar("cn_embeddings_bar", default=None)


def _key(value: Any) -> Any:
    """A str path or text by its value; a BytesIO (whose equality is identity anyway) by its id."""
    return value if isinstance(value, str) else ("id", id(value))


def _moving(bar: Callable[[int], None] | None) -> Callable[[int, int], None] | None:
    """The core's ``on_progress(done, total)`` as steps of ``bar`` (None: no bar)."""
    if bar is None:
        return None
    lock = threading.Lock()
    shown = 0

    def moved(done: int, total: int) -> None:
        nonlocal shown
        with lock:
            step, shown = max(0, done - shown), max(shown, done)
        if step:
            bar(step)

    return moved


class PerRequest:
    """A LlamaIndex ``rate_limiter`` as our classes hold it: LlamaIndex's own ``acquire`` per
    batch (a batch here is up to ``max_concurrency`` vendor requests, so it would limit nothing)
    does nothing, and the client asks ``limiter`` once per request, with that request's token
    estimate. Every other attribute is the limiter's."""

    def __init__(self, limiter: Any) -> None:
        self.limiter = limiter

    def __getattr__(self, name: str) -> Any:
        return getattr(self.limiter, name)

    def __repr__(self) -> str:
        return f"PerRequest({self.limiter!r})"

    def acquire(self, num_tokens: int = 0) -> None:
        return None

    async def async_acquire(self, num_tokens: int = 0) -> None:
        return None


def model_name_field(default: str) -> Any:
    """LlamaIndex's ``model_name`` field, which also takes ``model=`` as LangChain's classes do."""
    return Field(default=default, validation_alias=AliasChoices("model_name", "model"))


class CNEmbeddingBase(EmbeddingClients, AdapterMixin, MultiModalEmbedding):
    model_field = "model_name"
    http_fields = ("http_client", "async_http_client")

    http_client: Any = Field(default=None, exclude=True)
    async_http_client: Any = Field(default=None, exclude=True)

    model_config = ConfigDict(
        populate_by_name=True, arbitrary_types_allowed=True, extra="forbid", protected_namespaces=()
    )

    def __init__(self, **data: Any) -> None:
        batch_given = "embed_batch_size" in data
        super().__init__(**data)
        if not batch_given:
            # LlamaIndex sends its sync batches one after the other; a batch of one vendor request
            # per max_concurrency keeps that many requests in flight (the core splits each call
            # into vendor-sized requests and sends them concurrently).
            self.embed_batch_size = self.client.batch_size * self.client.options.max_concurrency

    @property
    def additional_kwargs(self) -> dict[str, Any]:
        """``extra_body`` under LlamaIndex's ``OpenAIEmbedding`` name: reads back what was given."""
        return dict(self.extra_body)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _check_configuration(self) -> CNEmbeddingBase:
        if self.rate_limiter is not None and not isinstance(self.rate_limiter, PerRequest):
            object.__setattr__(self, "rate_limiter", PerRequest(self.rate_limiter))  # no rebuild: not built yet
        self._clients()  # a bad option or a missing credential fails here, not on the first call
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "rate_limiter" and value is not None and not isinstance(value, PerRequest):
            value = PerRequest(value)
        super().__setattr__(name, value)

    # -- a rate limiter of LlamaIndex's, asked per request ----------------------------------------

    def _gate(self) -> Any:
        limiter = self.rate_limiter
        return limiter.limiter if isinstance(limiter, PerRequest) else limiter

    def client_options(self) -> dict[str, Any]:
        """With a ``rate_limiter``, it paces the requests, and the client's own pacing is off (one
        pacing, not two competing; a refusal is still retried, after Retry-After)."""
        options = super().client_options()
        if self._gate() is not None:
            if options.get("requests_per_second") or options.get("tokens_per_minute"):
                raise ConfigurationError(
                    "rate_limiter and requests_per_second/tokens_per_minute both pace the requests; give one "
                    "(a rate limiter shared with other objects: rate_limiter; this client alone: requests_per_second)"
                )
            options["requests_per_second"] = 0
        return options

    @classmethod
    def class_name(cls) -> str:
        return cls.__name__

    # -- whole-call validation, once: LlamaIndex splits calls into batches -------------------

    @contextmanager
    def _checked(self, inputs: Sequence[Any], default: str) -> Iterator[None]:
        items = self.client.validate(list(inputs), default=default)  # type: ignore[arg-type]
        checked: dict[Any, deque[Item]] = defaultdict(deque)
        for value, item in zip(inputs, items, strict=True):
            checked[_key(value)].append(item)
        token = _CHECKED.set(checked)
        try:
            yield
        finally:
            _CHECKED.reset(token)

    def _items(self, inputs: Sequence[Any]) -> Sequence[Any]:
        """The checked items for ``inputs`` when a batch call checked them all, else the inputs."""
        checked = _CHECKED.get()
        if checked is not None:
            wanted = Counter(_key(value) for value in inputs)
            if all(len(checked.get(key, ())) >= n for key, n in wanted.items()):
                return Prepared([checked[_key(value)].popleft() for value in inputs], self.client.protocol)
        return list(inputs)

    @contextmanager
    def _bar(self, total: int, show: bool) -> Iterator[None]:
        """One bar for a whole batch call, moved as each vendor request is answered."""
        with progress_bar(total, show) as bar:
            token = _BAR.set(bar)
            try:
                yield
            finally:
                _BAR.reset(token)

    def _embed(self, inputs: list[Any], default: Literal["text", "image"] = "text") -> list[Embedding]:
        return self.client.embed(self._items(inputs), default=default, on_progress=_moving(_BAR.get())).vectors

    async def _aembed(self, inputs: list[Any], default: Literal["text", "image"] = "text") -> list[Embedding]:
        result = await self.client.aembed(self._items(inputs), default=default, on_progress=_moving(_BAR.get()))
        return result.vectors

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **kwargs: Any) -> list[Embedding]:
        with self._checked(texts, "text"), self._bar(len(texts), show_progress):
            return super().get_text_embedding_batch(texts, False, **kwargs)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        with self._checked(texts, "text"), self._bar(len(texts), show_progress):
            return await super().aget_text_embedding_batch(texts, False, **kwargs)

    def get_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        self.client.require_multimodal("image embedding")
        with self._checked(img_file_paths, "image"), self._bar(len(img_file_paths), show_progress):
            return super().get_image_embedding_batch(img_file_paths, False)

    async def aget_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        self.client.require_multimodal("image embedding")
        with self._checked(img_file_paths, "image"), self._bar(len(img_file_paths), show_progress):
            return await super().aget_image_embedding_batch(img_file_paths, False)

    # -- text hooks ------------------------------------------------------------------------

    def _get_query_embedding(self, query: str) -> Embedding:
        return self.query_client.embed_texts([query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self.query_client.aembed_texts([query]))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._aembed(texts)

    # -- image hooks (str paths and BytesIO, what ImageNode.resolve_image() returns) ---------

    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._get_image_embeddings([img_file_path])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aget_image_embeddings([img_file_path]))[0]

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        self.client.require_multimodal("image embedding")
        return self._embed(img_file_paths, default="image")

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        self.client.require_multimodal("image embedding")
        return await self._aembed(img_file_paths, default="image")
