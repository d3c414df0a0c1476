"""The exceptions raised by cn_embeddings.

Every error the package raises derives from :class:`CNEmbeddingsError`::

    CNEmbeddingsError
    ├─ InvalidInputError          bad input, caught before any request (names the index and the limit)
    ├─ ConfigurationError         missing credentials, unsupported modality for this model
    ├─ Stopped                    the call was stopped (Ctrl-C, a drain, a failed batch) before this part ran
    ├─ APIConnectionError         the request never got an answer
    │  └─ APITimeoutError
    └─ APIError                   the vendor answered with an error
       ├─ AuthenticationError     bad key, bad signature, no permission, account overdue
       ├─ BadRequestError         the vendor rejected the request (or answered with a malformed body)
       ├─ RateLimitError          throttled or out of quota
       └─ ServerError             the vendor failed (5xx, InternalError)

An error raised from a call also says which inputs were embedded and which
were not (``embedded`` and ``not_embedded``: input indices) and hands back the
vectors that were paid for (``partial_vectors``: input index -> vector), so a
caller never has to guess what was lost nor pay twice. Every error pickles,
so a failure in a worker process arrives as itself. No error text ever holds a secret:
messages are built from vendor codes, vendor messages and our own words only.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CNEmbeddingsError",
    "ConfigurationError",
    "InvalidInputError",
    "RateLimitError",
    "ServerError",
    "Stopped",
]


class CNEmbeddingsError(Exception):
    """Base class of every error raised by cn_embeddings."""

    embedded: list[int]
    not_embedded: list[int]
    failed: list[int]
    partial_vectors: dict[int, list[float]]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.embedded = []
        self.not_embedded = []
        self.failed = []
        self.partial_vectors = {}
        self.attempts = 0

    def __reduce__(self) -> tuple:
        # Subclasses take keyword-only arguments, so rebuild from the state rather than from args.
        return _rebuild, (type(self), self.args, self.__dict__)

    def with_progress(self, embedded: list[int], not_embedded: list[int], failed: list[int]) -> CNEmbeddingsError:
        """Record which inputs of a call were embedded, which were not, and which
        made up the request that failed."""
        self.embedded = sorted(embedded)
        self.not_embedded = sorted(not_embedded)
        self.failed = sorted(failed)
        return self

    def redact(self, redactor: Any) -> CNEmbeddingsError:
        """Blank out any credential a vendor echoed back in its message, in any form
        (``redactor``: a :class:`cn_embeddings._secret.Redactor`)."""
        if not redactor:
            return self
        self.message = redactor.redact(self.message)
        self.args = (self.message,)
        vendor_message = getattr(self, "vendor_message", None)
        if isinstance(vendor_message, str):
            setattr(self, "vendor_message", redactor.redact(vendor_message))  # noqa: B010
        return self

    def __str__(self) -> str:
        if not self.not_embedded:
            return self.message
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return (
            f"{self.message} [request for inputs {_ranges(self.failed)} failed{tries}; "
            f"inputs not embedded: {_ranges(self.not_embedded)}; "
            f"embedded: {len(self.embedded)} of {len(self.embedded) + len(self.not_embedded)}]"
        )


class InvalidInputError(CNEmbeddingsError, ValueError):
    """An input breaks a documented rule; raised before any request is sent."""

    def __init__(self, message: str, *, index: int | None = None, rule: str | None = None):
        prefix = f"input {index}: " if index is not None else ""
        super().__init__(prefix + message)
        self.index = index
        self.rule = rule


class ConfigurationError(CNEmbeddingsError):
    """The client cannot be used as configured (missing credential, wrong modality...).

    Deliberately not a ValueError, so that pydantic validators in the framework
    adapters let it through as itself instead of wrapping it in a ValidationError.
    """


class Stopped(CNEmbeddingsError):
    """The call was stopped (Ctrl-C, a drain, or a failed batch elsewhere) before this batch finished."""


class APIConnectionError(CNEmbeddingsError):
    """The request got no HTTP answer (connection refused, reset or dropped)."""

    retryable = True
    retry_after: float | None = None

    def __init__(self, vendor: str, message: str = "connection error") -> None:
        super().__init__(f"{vendor}: {message}")
        self.vendor = vendor


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(self, vendor: str, message: str = "request timed out") -> None:
        super().__init__(vendor, message)


class APIError(CNEmbeddingsError):
    """The vendor answered with an error (or with a body we cannot trust)."""

    def __init__(
        self,
        *,
        vendor: str,
        code: str | None,
        message: str,
        status_code: int | None = None,
        request_id: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        details = [f"status {status_code}" if status_code is not None else None,
                   f"request id {request_id}" if request_id else None]
        extra = ", ".join(d for d in details if d)
        text = f"{vendor} error {code or 'unknown'}: {message}"
        if extra:
            text += f" ({extra})"
        if hint:
            text += f". Hint: {hint}"
        super().__init__(text)
        self.vendor = vendor
        self.code = code
        self.vendor_message = message
        self.status_code = status_code
        self.request_id = request_id
        self.retryable = retryable
        self.retry_after = retry_after
        self.hint = hint


class AuthenticationError(APIError):
    """Credentials, signature or permissions were rejected; never retried."""


class BadRequestError(APIError):
    """The vendor rejected the request as invalid; never retried."""


class RateLimitError(APIError):
    """Throttled (retryable) or out of quota (not retryable).

    ``overload`` is True when the vendor refused for its own load, not for this account's rate
    (Ark ``ServerOverloaded``, Qianfan ``cluster_*``/``preemptible_*``): retried, but the
    client's rate is not lowered for it."""

    # Codes that speak of the vendor's load rather than of the caller's quota [INF from their names].
    OVERLOAD_CODES = ("ServerOverloaded", "cluster_", "preemptible_")

    @property
    def overload(self) -> bool:
        return bool(self.code) and str(self.code).startswith(self.OVERLOAD_CODES)

    @property
    def limit(self) -> str:
        """Which bound the refusal speaks of: ``overload`` (the vendor's load), ``in_flight`` (Ark
        ``InflightBatchsizeExceeded``), ``tokens`` (a TPM code or message: Qianfan
        ``tpm_rate_limit_exceeded``, Ark ``*TPM*``/``*Tpm*``) or ``requests`` (every other refusal)."""
        if self.overload:
            return "overload"
        code = str(self.code or "")
        if "inflight" in code.lower():
            return "in_flight"
        if "tpm" in code.lower() or "TPM" in self.message:
            return "tokens"
        return "requests"


class ServerError(APIError):
    """The vendor or its gateway failed; retryable."""


def _rebuild(cls: type[CNEmbeddingsError], args: tuple, state: dict) -> CNEmbeddingsError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


def _ranges(indices: list[int]) -> str:
    """Render [0,1,2,5,7,8] as '0-2, 5, 7-8' so long lists stay readable."""
    parts: list[str] = []
    start = prev = None
    for i in indices:
        if start is None:
            start = prev = i
        elif prev is not None and i == prev + 1:
            prev = i
        else:
            parts.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = i
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else str(start))
    return ", ".join(parts)
