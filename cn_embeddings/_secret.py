"""A string that will not print itself."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import quote

from ._exceptions import ConfigurationError

__all__ = ["Redactor", "Secret", "fingerprint", "resolve_secret"]


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

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles carry the value on purpose: a worker process needs it to call the vendor.
        return Secret, (self._value,)


class Redactor:
    """Blanks credentials out of text: verbatim, escaped (``repr``, JSON, URL) and partial forms.

    What the request path carries instead of the credentials themselves, so that no frame's
    locals hold a secret string (``repr`` shows none): tracebacks with locals, error trackers
    and debuggers print ``Redactor(2 secrets)``."""

    __slots__ = ("_blocks", "_forms", "_secrets")
    MIN_LENGTH = 6  # very short test values are left alone so that ordinary words survive
    MIN_PART = 8  # a run of this many characters of a secret counts as a leak of it

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._secrets = tuple(s for s in secrets if len(s) >= self.MIN_LENGTH)
        forms: set[str] = set()
        for secret in self._secrets:
            forms |= {
                secret,
                repr(secret)[1:-1],
                json.dumps(secret)[1:-1],
                quote(secret, safe=""),
                repr(secret.encode("utf-8"))[2:-1],
            }
        self._forms = tuple(sorted(forms, key=len, reverse=True))
        self._blocks = tuple(self._aligned_blocks(secret) for secret in self._secrets)

    @classmethod
    def _part_size(cls, secret: str) -> int:
        return min(max(cls.MIN_PART, len(secret) // 2), len(secret))

    @classmethod
    def _aligned_blocks(cls, secret: str) -> tuple[str, ...]:
        """Pieces of half the part size at offsets that are multiples of it: any run of the part
        size holds one whole, so a text with none of them holds no part (a third of the scans)."""
        step = max(1, cls._part_size(secret) // 2)
        return tuple(secret[at : at + step] for at in range(0, len(secret) - step + 1, step))

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def redact(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, "**********")
        for secret, blocks in zip(self._secrets, self._blocks, strict=True):
            if any(block in text for block in blocks):
                text = self._partial(text, secret)
        return text

    def _partial(self, text: str, secret: str) -> str:
        """Mask any run of at least MIN_PART characters (or half a short secret) of ``secret``."""
        size = self._part_size(secret)
        for start in range(len(secret) - size + 1):
            piece = secret[start : start + size]
            if piece in text:
                text = text.replace(piece, "**********")
        return text


def fingerprint(value: str) -> str:
    """A stable, one-way name for a credential: the same in every process, never the secret."""
    return hashlib.sha256(b"cn-embeddings account\0" + value.encode("utf-8")).hexdigest()[:16]


def resolve_secret(value: object, env_var: str, *, what: str) -> Secret:
    """Take an explicit value (str, Secret, pydantic SecretStr) or the environment variable.

    Raises ConfigurationError naming the variable when neither is set, and
    rejects leading/trailing spaces as the Tencent SDK does (a pasted key with
    a newline is the most common cause of a signature failure).
    """
    # The value is held in a Secret from the first line, never in a plain local, so a traceback
    # that prints locals shows stars.
    if value is None:
        secret = Secret(os.environ.get(env_var) or "")
    elif isinstance(value, Secret):
        secret = value
    elif hasattr(value, "get_secret_value"):
        secret = Secret(value.get_secret_value() or "")
    else:
        secret = Secret(str(value))
    if not secret.get():
        raise ConfigurationError(f"missing {what}: pass it explicitly or set the {env_var} environment variable")
    if secret.get() != secret.get().strip():
        raise ConfigurationError(f"{what} has leading or trailing whitespace (check {env_var})")
    if not all(ch.isprintable() and not ch.isspace() for ch in secret.get()):
        # A header cannot carry it, and the error that would follow could print it escaped.
        raise ConfigurationError(f"{what} holds whitespace or control characters (check {env_var})")
    return secret
