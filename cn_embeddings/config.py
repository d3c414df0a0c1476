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

PROVIDERS = ("tencent", "qianfan", "ark")
PROVIDER_ALIASES = {"tencentcloud": "tencent", "tencent-cloud": "tencent", "baidu": "qianfan",
                    "volcengine": "ark", "doubao": "ark"}
SECRET_KEYS = frozenset({"secret_id", "secret_key", "token", "api_key", "tencentcloud_secret_id",
                         "tencentcloud_secret_key", "session_token", "qianfan_api_key", "ark_api_key"})


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


def check_options(options: Mapping[str, Any], allowed: Iterable[str], target: str, *,
                  allow_secrets: bool, spec: str | Mapping[str, Any]) -> None:
    """Unknown keys are errors; a credential written in the config mapping itself (not passed
    as a keyword argument) is refused unless ``allow_secrets``."""
    allowed_set = set(allowed)
    unknown = sorted(set(options) - allowed_set)
    if unknown:
        raise ConfigurationError(f"unknown option(s) {', '.join(map(repr, unknown))} for {target}; "
                                 f"allowed: {', '.join(sorted(allowed_set))}")
    in_file = spec if isinstance(spec, Mapping) else {}
    literal = sorted(k for k in in_file if k in SECRET_KEYS and in_file[k] is not None)
    if literal and not allow_secrets:
        raise ConfigurationError(
            f"the config holds a literal credential ({', '.join(literal)}); keep credentials in environment "
            "variables, or pass allow_secrets=True if you really mean it")
