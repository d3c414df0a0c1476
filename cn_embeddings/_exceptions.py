"""The exceptions raised by cn_embeddings.

Every error the package raises derives from :class:`CNEmbeddingsError`::

    CNEmbeddingsError
    ├─ InvalidInputError          bad input, caught before any request (names the index and the limit)
    ├─ ConfigurationError         missing credentials, unsupported modality for this model
    ├─ Stopped                    the call was stopped (Ctrl-C, a drain, a failed batch) before this part ran
    ├─ BulkError                  a bulk job stopped; what it wrote stays written, and a rerun resumes
    ├─ APIConnectionError         the request never got an answer
    │  └─ APITimeoutError
    └─ APIError                   the vendor answered with an error
       ├─ AuthenticationError     bad key, bad signature, no permission, account overdue
       ├─ BadRequestError         the vendor rejected the request
       ├─ RateLimitError          throttled or out of quota
       └─ ServerError             the vendor failed (5xx, InternalError), or answered with a body we
                                  cannot trust (code malformed_response)

    BatchFailed                   internal: how a request's retry flow ends; never reaches a caller

An error raised from a call carries its :class:`CallRecord`, attached once
when the call ends: which inputs were embedded and which were not
(``embedded`` and ``not_embedded``: input indices), the vectors that were
paid for (``partial_vectors``: input index -> vector) and the attempts the
failed request took, so a caller never has to guess what was lost nor pay
twice. Every error pickles, so a failure in a worker process arrives as itself.
No error text ever holds a secret: messages are built from vendor codes,
vendor messages and our own words only.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BulkError",
    "CNEmbeddingsError",
    "CallRecord",
    "ConfigurationError",
    "InvalidInputError",
    "RateLimitError",
    "ServerError",
    "Stopped",
]


@dataclass(frozen=True)
class CallRecord:
    """What a failed call did: inputs embedded and not (indices), those of the request that failed,
    the vectors paid for, the attempts that request took, and why retrying stopped when the reason
    is not the error itself."""

    embedded: Sequence[int] = ()
    not_embedded: Sequence[int] = ()
    failed: Sequence[int] = ()
    partial_vectors: Mapping[int, Any] = field(default_factory=lambda: MappingProxyType({}))
    attempts: int = 0
    note: str | None = None

    def __post_init__(self) -> None:
        for name in ("embedded", "not_embedded", "failed"):
            object.__setattr__(self, name, tuple(sorted(getattr(self, name))))
        object.__setattr__(self, "partial_vectors", MappingProxyType(dict(self.partial_vectors)))

    def __reduce__(self) -> tuple[Any, ...]:
        return CallRecord, (
            self.embedded,
            self.not_embedded,
            self.failed,
            dict(self.partial_vectors),
            self.attempts,
            self.note,
        )


_E = TypeVar("_E", bound="CNEmbeddingsError")


def attach_record(error: _E, record: CallRecord) -> _E:
    """The one place a call's record is attached to its error, when the call ends."""
    error.record = record
    return error


class CNEmbeddingsError(Exception):
    """Base class of every error raised by cn_embeddings."""

    # An instance attribute, never a class default: a wrapper that delegates missing attributes to
    # the error it wraps (Ray's RayTaskError(AuthenticationError) on a driver) then reads this one.
    record: CallRecord

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.record = CallRecord()

    @property
    def embedded(self) -> list[int]:
        """Inputs of the call that were embedded (their vectors are in ``partial_vectors``)."""
        return list(self.record.embedded)

    @property
    def not_embedded(self) -> list[int]:
        """Inputs of the call that were not embedded."""
        return list(self.record.not_embedded)

    @property
    def failed(self) -> list[int]:
        """Inputs of the request that failed."""
        return list(self.record.failed)

    @property
    def partial_vectors(self) -> dict[int, Any]:
        """Input index -> the vector paid for, for every input that was embedded."""
        return dict(self.record.partial_vectors)

    @property
    def attempts(self) -> int:
        """Attempts the failed request took (each one may have been billed)."""
        return self.record.attempts

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, so rebuild from the state rather than from args.
        return _rebuild, (type(self), self.args, self.__dict__)

    def redact(self, redactor: Any) -> CNEmbeddingsError:
        """A copy with any credential a vendor echoed back in its message blanked out, in any
        form (``redactor``: a :class:`cn_embeddings._secret.Redactor`); this error is left as it is."""
        if not redactor:
            return self
        copy = _copy.copy(self).with_traceback(self.__traceback__)  # where it was raised, for debugging
        copy.message = redactor.redact(self.message)
        copy.args = (copy.message,)
        vendor_message = getattr(self, "vendor_message", None)
        if isinstance(vendor_message, str):
            setattr(copy, "vendor_message", redactor.redact(vendor_message))  # noqa: B010
        return copy

    def __str__(self) -> str:
        record = self.record
        text = f"{self.message} ({record.note})" if record.note else self.message
        if not record.not_embedded:
            return text
        tries = f" after {record.attempts} attempts" if record.attempts > 1 else ""
        return (
            f"{text} [request for {_inputs(record.failed)} failed{tries}; "
            f"not embedded: {_inputs(record.not_embedded)}; "
            f"embedded: {len(record.embedded)} of {len(record.embedded) + len(record.not_embedded)}]"
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


class BulkError(CNEmbeddingsError):
    """A bulk job stopped on a failure; every vector answered before it is in the output.

    ``summary`` (a :class:`cn_embeddings.bulk.Summary`) says what was written; ``not_written`` how
    many inputs still need a run (the same command resumes); the failure is ``__cause__``."""

    def __init__(self, cause: BaseException, summary: Any, not_written: int) -> None:
        super().__init__(
            f"stopped after writing {summary.written} rows: {cause}; {not_written} of the inputs were not embedded"
        )
        self.summary = summary
        self.not_written = not_written


class APIConnectionError(CNEmbeddingsError):
    """The request got no HTTP answer (connection refused, reset or dropped)."""

    retryable = True
    retry_after: float | None = None

    def __init__(self, vendor: str, message: str = "connection error", *, retryable: bool = True) -> None:
        super().__init__(f"{vendor}: {message}")
        self.vendor = vendor
        self.retryable = retryable


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(self, vendor: str, message: str = "request timed out", *, retryable: bool = True) -> None:
        super().__init__(vendor, message, retryable=retryable)


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
        details = [
            f"status {status_code}" if status_code is not None else None,
            f"request id {request_id}" if request_id else None,
        ]
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


class BatchFailed(Exception):
    """How a flow ends when its batch fails for good: the vendor's error, the attempts it took and
    the retry policy's note. Never reaches a caller: the call's end attaches this to the error as
    part of its :class:`~cn_embeddings._exceptions.CallRecord` (``_batching.Failure.raise_with``)."""

    def __init__(self, error: CNEmbeddingsError, attempts: int, note: str | None) -> None:
        super().__init__(error)
        self.error, self.attempts, self.note = error, attempts, note


def _rebuild(cls: type[CNEmbeddingsError], args: tuple[Any, ...], state: dict[str, Any]) -> CNEmbeddingsError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


def _inputs(indices: Sequence[int]) -> str:
    """'input 3' or 'inputs 0-2, 5': indices that cannot be read as a count."""
    return f"input {indices[0]}" if len(indices) == 1 else f"inputs {_ranges(list(indices))}"


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
