"""The error taxonomy: which provider failures are retried and which end the run.

Every provider (fake or real) raises ProviderError built by `provider_error`, so the decision
lives here once, and Temporal, the only owner of retries, acts on it at the activity boundary.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

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
        outage: bool = False,
    ) -> None:
        super().__init__(message)
        # The provider could not be reached at all (not just a slow or busy answer): with
        # another provider configured, the call moves to it at once (llm/failover.py).
        self.outage = outage
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
    should_retry: bool | None = None,
) -> ProviderError:
    """Classify a provider failure. A status of None means no answer (timeout, connection).
    `should_retry` is the provider's own word (`x-should-retry`), which wins over the
    status, but not over a code that no wait can fix."""
    if code in _PERMANENT_CODES:
        return ProviderError(
            message,
            retryable=False,
            status_code=status_code,
            code=code,
            hint=_PERMANENT_CODES[code],
        )
    retryable = status_code is None or status_code in RETRYABLE_STATUS or status_code >= 500
    if should_retry is not None:
        retryable = should_retry
    if retryable:
        return ProviderError(
            message, retryable=True, status_code=status_code, code=code, retry_after=retry_after
        )
    return ProviderError(
        message,
        retryable=False,
        status_code=status_code,
        code=code,
        hint=_HINTS.get(status_code) if status_code is not None else None,
    )


def raise_as_activity_error(error: ProviderError, *details: Any, final: bool = False) -> NoReturn:
    """Hand a classified failure to Temporal, which alone decides when to try again;
    `details` are recorded with it (which provider failed, which is next), and `final` ends
    the retries even of a retryable failure (an outage, when another provider can answer)."""
    delay = timedelta(seconds=error.retry_after) if error.retry_after is not None else None
    raise ApplicationError(
        str(error),
        *details,
        type=error.kind,
        non_retryable=final or not error.retryable,
        next_retry_delay=delay,
    ) from error
