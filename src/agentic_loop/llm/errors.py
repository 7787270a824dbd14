"""The error taxonomy: which provider failures are retried and which end the run.

Every provider (fake or real) raises ProviderError built by `provider_error`, so the decision
lives here once, and Temporal, the only owner of retries, acts on it at the activity boundary.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from temporalio.exceptions import ApplicationError

# Waiting fixes these: the server was busy, slow, or briefly wrong.
RETRYABLE_STATUS = frozenset({408, 409, 429})

# Codes that arrive with a retryable status but that no amount of waiting fixes.
_PERMANENT_CODES = {
    "insufficient_quota": "the account has no quota left: check its plan and billing",
    "context_length_exceeded": (
        "the conversation no longer fits the model's context window: "
        "lower max_turns or use a model with a longer context"
    ),
}

_HINTS = {
    400: "the request was rejected as malformed",
    401: "check OPENAI_API_KEY",
    403: "the key may lack access to this model or endpoint: check OPENAI_API_KEY and OPENAI_MODEL",
    404: "check OPENAI_MODEL and OPENAI_BASE_URL",
    422: "the request was rejected as invalid",
}


class ProviderError(Exception):
    """A failed LLM call, already classified."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.code = code
        self.retry_after = retry_after
        self.hint = hint

    @property
    def kind(self) -> str:
        """A stable error type name for Temporal (and for metrics by error type)."""
        if self.code:
            return f"LLM_{self.code}"
        if self.status_code:
            return f"LLM_HTTP_{self.status_code}"
        return "LLM_UNAVAILABLE" if self.retryable else "LLM_ERROR"

    def __str__(self) -> str:
        status = f"HTTP {self.status_code}: " if self.status_code else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{status}{self.message}{hint}"


def provider_error(
    status_code: int | None,
    message: str,
    *,
    code: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """Classify a provider failure. A status of None means no answer (timeout, connection)."""
    if code in _PERMANENT_CODES:
        return ProviderError(
            message,
            retryable=False,
            status_code=status_code,
            code=code,
            hint=_PERMANENT_CODES[code],
        )
    if status_code is None or status_code in RETRYABLE_STATUS or status_code >= 500:
        return ProviderError(
            message, retryable=True, status_code=status_code, code=code, retry_after=retry_after
        )
    return ProviderError(
        message,
        retryable=False,
        status_code=status_code,
        code=code,
        hint=_HINTS.get(status_code),
    )


def parse_retry_after(headers: dict[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds); None if absent."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = lower.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) * scale
        except ValueError:
            continue  # an HTTP date: rare from LLM APIs; fall back to the policy's back-off
        if 0 <= seconds <= 3600:
            return seconds
    return None


def raise_as_activity_error(error: ProviderError) -> NoReturn:
    """Hand a classified failure to Temporal, which alone decides when to try again."""
    delay = timedelta(seconds=error.retry_after) if error.retry_after is not None else None
    raise ApplicationError(
        str(error),
        type=error.kind,
        non_retryable=not error.retryable,
        next_retry_delay=delay,
    ) from error
