"""Every option is declared once, here or in its vendor's protocol dataclass.

An option is a dataclass field made with :func:`option`: its name, type,
default and help text live in that one place. The core clients, both
framework adapters' pydantic fields, ``init_embeddings``, the CLI flags and
the emulator's settings are all derived from these declarations
(:func:`declared`), and a test walks them to prove that every option is
reachable everywhere with the same name and default.

Credentials are declared per vendor as :class:`Credential` (name, environment
variable, aliases) and are never part of a printable configuration.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._exceptions import ConfigurationError
from ._longtext import LongInputs

__all__ = ["Credential", "OptionSpec", "ClientOptions", "declared", "option"]


def option(default: Any, help: str, *, cli: bool = True, aliases: tuple[str, ...] = ()) -> Any:  # noqa: A002
    """A declared option: a dataclass field with its help text.

    ``cli=False`` keeps it off the command line (test switches, not settings);
    ``aliases`` are other names the adapters and ``init_embeddings`` accept."""
    metadata = {"help": help, "cli": cli, "aliases": aliases}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionSpec:
    """One declared option as the adapters and the CLI see it."""

    name: str
    type: Any
    default: Any
    help: str
    cli: bool
    aliases: tuple[str, ...] = ()


@functools.cache
def declared(cls: type) -> tuple[OptionSpec, ...]:
    """The options a dataclass declares with :func:`option`, in declaration order (computed once:
    the adapters read them on every call)."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
        specs.append(
            OptionSpec(f.name, hints[f.name], default, f.metadata["help"], f.metadata["cli"], f.metadata["aliases"])
        )
    return tuple(specs)


@dataclass(frozen=True)
class Credential:
    """A credential a vendor needs: the option name, its environment variable and accepted aliases."""

    name: str
    env: str
    what: str
    aliases: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class ClientOptions:
    """Every option of a client besides its vendor's own, the same for every vendor: how requests
    are sent (timeout, retries, headers, extra body), how fast (the quota, requests in flight) and
    what is done to inputs before (long texts, images, batch size). Validated on construction."""

    timeout: float | None = option(60.0, "Seconds per request attempt; None waits forever.")
    max_retries: int = option(
        3,
        "Retries per request on transport errors, timeouts, 408/409/429/5xx and "
        "throttling codes; never on auth or invalid input.",
    )
    max_concurrency: int = option(
        128,
        "The most requests in flight at once for this quota; the rate controller "
        "keeps as many as the rate and the vendor's latency need, up to this.",
    )
    requests_per_second: float | None = option(
        None,
        "The quota in requests per second, shared by every client of the same account and model; None "
        "uses the model's documented quota or finds an unknown one at run time; 0 turns rate control off.",
    )
    batch_size: int | None = option(None, "Inputs per request; None uses the vendor limit (a lower value is allowed).")
    long_inputs: LongInputs = option(
        "error",
        "A text over the model's limit: 'error' raises InvalidInputError; 'truncate' sends its longest "
        "prefix within the limit; 'split' embeds consecutive pieces within the limit and returns their "
        "length-weighted average, L2-normalised.",
    )
    truncate: bool = option(False, "The same as long_inputs='truncate'.")
    fit_images: bool = option(
        False,
        "Downscale and re-encode an image that breaks the vendor's size or pixel "
        "limits instead of raising InvalidInputError (needs Pillow).",
    )
    default_headers: dict[str, str] = option({}, "Extra headers on every request.")
    extra_body: dict[str, Any] = option(
        {},
        "Extra fields merged into every request body, for fields a vendor added after this release "
        "(langchain-openai's model_kwargs, LlamaIndex's additional_kwargs); a field the client sets itself "
        "is refused by name.",
        aliases=("model_kwargs", "additional_kwargs"),
    )
    quota_url: str | None = option(
        None,
        "redis://host:port/db: share one quota's pacing with every process using the same account and "
        "model; env CN_EMBEDDINGS_QUOTA_URL; password from env "
        "CN_EMBEDDINGS_QUOTA_PASSWORD.",
    )
    tokens_per_minute: int | None = option(
        None,
        "The quota in tokens per minute; None uses the model's documented "
        "quota or finds one from token-quota refusals.",
    )
    remember_quota: bool = option(
        True,
        "Keep a quota learned from refusals for the next run (in the quota_url store, else a small file in "
        "the user's cache folder; a rate, never a credential; for a day); env CN_EMBEDDINGS_REMEMBER_QUOTA=0 "
        "turns it off.",
    )
    cache: Any = option(
        None,
        "Reuse vectors already paid for: 'memory' (this process, 256 MiB; 'memory:N' for N MiB), a file path "
        "(SQLite, shared by threads and processes), a redis:// URL (shared by machines), or an object with "
        "get_many and put_many; keyed by the embedding space, the role and the exact input sent.",
    )
    zero_waits: bool = option(False, "Make every retry wait zero seconds (tests only).", cli=False)

    def __post_init__(self) -> None:
        def whole(name: str, value: Any, least: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigurationError(f"{name} must be an integer of at least {least}, got {value!r}")

        whole("max_concurrency", self.max_concurrency, 1)
        whole("max_retries", self.max_retries, 0)
        if self.batch_size is not None:
            whole("batch_size", self.batch_size, 1)
        if self.tokens_per_minute is not None:
            whole("tokens_per_minute", self.tokens_per_minute, 1)
        if self.quota_url is not None:
            from ._ratecontrol._store import check_quota_url

            check_quota_url(self.quota_url)
        for name in ("timeout", "requests_per_second"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise ConfigurationError(f"{name} must be a non-negative number or None, got {value!r}")
        if self.cache is not None:
            from ._cache import check_cache_spec

            check_cache_spec(self.cache)
        if self.timeout == 0:
            raise ConfigurationError("timeout must be positive (None waits forever)")
        if self.long_inputs not in ("error", "truncate", "split"):
            raise ConfigurationError(f"long_inputs must be 'error', 'truncate' or 'split', got {self.long_inputs!r}")
        if self.truncate:
            if self.long_inputs == "split":
                raise ConfigurationError("truncate=True and long_inputs='split' contradict each other; pass one")
            object.__setattr__(self, "long_inputs", "truncate")
        if not isinstance(self.default_headers, Mapping):
            raise ConfigurationError("default_headers must be a mapping of header names to values")
        object.__setattr__(self, "default_headers", dict(self.default_headers or {}))
        if not isinstance(self.extra_body, Mapping) or not all(isinstance(k, str) for k in self.extra_body):
            raise ConfigurationError("extra_body must be a mapping of field names to JSON values")
        object.__setattr__(self, "extra_body", dict(self.extra_body))
        for name, value in self.extra_body.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise ConfigurationError(
                    f"extra_body[{name!r}] is not a JSON value ({error}); NaN, infinities, dates and "
                    "other objects cannot be sent"
                ) from None
