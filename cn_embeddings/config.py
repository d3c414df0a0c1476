"""Building an embeddings object from a ``provider:model`` string or a config mapping.

Shared by both adapters' ``init_embeddings``. A mapping as loaded from YAML,
TOML or JSON may name any field of the class; unknown keys are rejected by
name, and a literal credential in it is refused unless the caller opts in
(credentials belong in the environment, not in a file that gets committed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._exceptions import ConfigurationError
from .clients import VENDORS

PROVIDERS = tuple(VENDORS)
PROVIDER_ALIASES = {
    "tencentcloud": "tencent",
    "tencent-cloud": "tencent",
    "baidu": "qianfan",
    "volcengine": "ark",
    "doubao": "ark",
}
SECRET_KEYS = frozenset(
    name for module in VENDORS.values() for cred in module.CREDENTIALS for name in (cred.name, *cred.aliases)
)
# Fields of the framework classes that hold objects, not settings a file could give.
NOT_CONFIG = frozenset(
    {"callback_manager", "embeddings_cache", "rate_limiter", "http_client", "http_async_client", "async_http_client"}
)


def parse_spec(spec: str | Mapping[str, Any], overrides: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``"ark:doubao-embedding-vision-250615"`` or ``{"provider": "ark", "model": ...}`` -> (provider, options)."""
    if isinstance(spec, str):
        provider, sep, model = spec.partition(":")
        if not sep or not model:
            raise ConfigurationError(f"expected 'provider:model' (providers: {', '.join(PROVIDERS)}), got {spec!r}")
        options: dict[str, Any] = {"model": model}
    elif isinstance(spec, Mapping):
        options = dict(spec)
        provider = options.pop("provider", None)
        if not isinstance(provider, str):
            raise ConfigurationError(f"config needs a 'provider' ({', '.join(PROVIDERS)})")
    else:
        raise ConfigurationError(f"expected a 'provider:model' string or a mapping, not {type(spec).__name__}")
    provider = PROVIDER_ALIASES.get(provider.lower(), provider.lower())
    if provider not in PROVIDERS:
        raise ConfigurationError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    options.update(overrides)
    return provider, options


def init_from_spec(
    classes: Mapping[str, Any], spec: str | Mapping[str, Any], allow_secrets: bool, overrides: Mapping[str, Any]
) -> Any:
    """The one rule set of both frameworks' ``init_embeddings``: every field name or alias of the
    class but object-valued ones; unknown keys and literal credentials refused by name."""
    provider, options = parse_spec(spec, overrides)
    cls = classes[provider]
    allowed = {
        name
        for field_name, field in cls.model_fields.items()
        if field_name not in NOT_CONFIG
        for name in (field_name, *_aliases(field))
    } | (set(overrides) & NOT_CONFIG)
    check_options(options, allowed, cls.__name__, allow_secrets=allow_secrets, spec=spec)
    return cls(**options)


def _aliases(field: Any) -> tuple[str, ...]:
    choices = getattr(field.validation_alias, "choices", None) or ()
    return tuple(c for c in choices if isinstance(c, str)) + ((field.alias,) if field.alias else ())


def check_options(
    options: Mapping[str, Any],
    allowed: Iterable[str],
    target: str,
    *,
    allow_secrets: bool,
    spec: str | Mapping[str, Any],
) -> None:
    """Unknown keys are errors; a credential written in the config mapping itself (not passed
    as a keyword argument) is refused unless ``allow_secrets``."""
    allowed_set = set(allowed)
    unknown = sorted(set(options) - allowed_set)
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for {target}; allowed: {', '.join(sorted(allowed_set))}"
        )
    in_file = spec if isinstance(spec, Mapping) else {}
    literal = sorted(k for k in in_file if k in SECRET_KEYS and in_file[k] is not None)
    if literal and not allow_secrets:
        raise ConfigurationError(
            f"the config holds a literal credential ({', '.join(literal)}); keep credentials in environment "
            "variables, or pass allow_secrets=True if you really mean it"
        )
