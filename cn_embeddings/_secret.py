"""A string that will not print itself."""

from __future__ import annotations

import hashlib
import os

from ._exceptions import ConfigurationError

__all__ = ["Secret", "fingerprint", "resolve_secret"]


class Secret:
    """Holds a credential; ``repr`` and ``str`` show stars, ``get()`` the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple:
        # Pickles carry the value on purpose: a worker process needs it to call the vendor.
        return Secret, (self._value,)


def fingerprint(value: str) -> str:
    """A stable, one-way name for a credential: the same in every process, never the secret."""
    return hashlib.sha256(b"cn-embeddings account\0" + value.encode("utf-8")).hexdigest()[:16]


def resolve_secret(value: object, env_var: str, *, what: str) -> Secret:
    """Take an explicit value (str, Secret, pydantic SecretStr) or the environment variable.

    Raises ConfigurationError naming the variable when neither is set, and
    rejects leading/trailing spaces as the Tencent SDK does (a pasted key with
    a newline is the most common cause of a signature failure).
    """
    if value is None:
        raw = os.environ.get(env_var)
    elif isinstance(value, Secret):
        raw = value.get()
    elif hasattr(value, "get_secret_value"):
        raw = value.get_secret_value()
    else:
        raw = str(value)
    if not raw:
        raise ConfigurationError(f"missing {what}: pass it explicitly or set the {env_var} environment variable")
    if raw != raw.strip():
        raise ConfigurationError(f"{what} has leading or trailing whitespace (check {env_var})")
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        # A header cannot carry it, and the error that would follow could print it escaped.
        raise ConfigurationError(f"{what} holds whitespace or control characters (check {env_var})")
    return Secret(raw)
