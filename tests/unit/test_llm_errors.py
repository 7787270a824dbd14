"""The error taxonomy: which provider failures are retried, and how Temporal is told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError

from agentic_loop.llm.errors import (
    ProviderError,
    parse_retry_after,
    provider_error,
    raise_as_activity_error,
)


@pytest.mark.parametrize("status", [None, 408, 409, 429, 500, 502, 503, 504, 529])
def test_no_answer_busy_and_server_statuses_are_retryable(status: int | None) -> None:
    """A missing answer, 408, 409, 429 and every 5xx are retried, keeping the server's delay."""
    error = provider_error(status, "busy", retry_after=7)
    assert error.retryable
    assert error.status_code == status
    assert error.retry_after == 7
    assert error.hint is None


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (400, "malformed"),
        (401, "OPENAI_API_KEY"),
        (403, "OPENAI_MODEL"),
        (404, "OPENAI_BASE_URL"),
        (422, "invalid"),
    ],
)
def test_client_errors_are_permanent_with_a_hint(status: int, hint: str) -> None:
    """400, 401, 403, 404 and 422 end the run, with a hint naming what to fix."""
    error = provider_error(status, "rejected", retry_after=5)
    assert not error.retryable
    assert error.hint is not None
    assert hint in error.hint
    # A delay means nothing for a call that will never be tried again.
    assert error.retry_after is None


def test_an_unlisted_client_status_is_permanent_without_a_hint() -> None:
    """A 4xx outside the table, such as 418, is not retried and gets no invented hint."""
    error = provider_error(418, "teapot")
    assert not error.retryable
    assert error.hint is None


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (429, "insufficient_quota", "billing"),
        (400, "context_length_exceeded", "max_turns"),
        (None, "context_length_exceeded", "context window"),
        (500, "insufficient_quota", "quota"),
    ],
)
def test_permanent_codes_win_over_a_retryable_status(
    status: int | None, code: str, hint: str
) -> None:
    """insufficient_quota and context_length_exceeded are never retried, whatever the status."""
    error = provider_error(status, "no", code=code, retry_after=30)
    assert not error.retryable
    assert error.code == code
    assert error.hint is not None
    assert hint in error.hint
    assert error.retry_after is None


def test_a_rate_limit_code_stays_retryable() -> None:
    """A 429 with code rate_limit_exceeded is waited out, unlike insufficient_quota."""
    error = provider_error(429, "slow down", code="rate_limit_exceeded", retry_after=20)
    assert error.retryable
    assert error.code == "rate_limit_exceeded"
    assert error.retry_after == 20


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (provider_error(429, "x", code="rate_limit_exceeded"), "LLM_rate_limit_exceeded"),
        (provider_error(503, "x"), "LLM_HTTP_503"),
        (provider_error(None, "x"), "LLM_UNAVAILABLE"),
        (ProviderError("x", retryable=False), "LLM_ERROR"),
    ],
)
def test_kind_prefers_code_then_status_then_retryability(error: ProviderError, kind: str) -> None:
    """The Temporal error type comes from the code, else the status, else retryability."""
    assert error.kind == kind


def test_str_shows_status_message_and_hint() -> None:
    """str() reads "HTTP <status>: <message> (<hint>)", the line people see on failure."""
    assert str(provider_error(401, "bad key")) == "HTTP 401: bad key (check OPENAI_API_KEY)"
    assert str(provider_error(None, "timed out")) == "timed out"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "20"}, 20.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "20"}, 1.5),
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After-Ms": "250"}, 0.25),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "3600"}, 3600.0),
    ],
)
def test_parse_retry_after_reads_seconds_and_ms(headers: dict[str, str], expected: float) -> None:
    """retry-after-ms wins over retry-after, header names are case-insensitive."""
    assert parse_retry_after(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"content-type": "application/json"},
        {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"},
        {"retry-after": "soon"},
        {"retry-after-ms": "abc"},
        {"retry-after": "-1"},
        {"retry-after": "3601"},
        {"retry-after-ms": "3600001"},
    ],
)
def test_parse_retry_after_ignores_absent_invalid_and_out_of_bounds(
    headers: dict[str, str] | None,
) -> None:
    """Absent, unparsable, negative or over-an-hour values give None: the policy's back-off."""
    assert parse_retry_after(headers) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "abc", "retry-after": "4"}, 4.0),
        ({"retry-after-ms": "-10", "retry-after": "4"}, 4.0),
    ],
)
def test_parse_retry_after_falls_back_to_seconds(headers: dict[str, str], expected: float) -> None:
    """An unusable retry-after-ms does not hide a usable retry-after."""
    assert parse_retry_after(headers) == expected


def test_activity_error_for_a_retryable_failure_carries_the_delay() -> None:
    """A retryable failure becomes a retryable ApplicationError with the server's delay."""
    error = provider_error(429, "slow down", code="rate_limit_exceeded", retry_after=20)
    with pytest.raises(ApplicationError) as caught:
        raise_as_activity_error(error)
    raised = caught.value
    assert raised.non_retryable is False
    assert raised.type == "LLM_rate_limit_exceeded"
    assert raised.next_retry_delay == timedelta(seconds=20)
    assert raised.message == str(error)
    assert raised.__cause__ is error


def test_activity_error_without_a_delay_leaves_back_off_to_the_policy() -> None:
    """Without retry_after, next_retry_delay stays None so the retry policy's back-off applies."""
    error = provider_error(None, "timed out")
    with pytest.raises(ApplicationError) as caught:
        raise_as_activity_error(error)
    assert caught.value.next_retry_delay is None
    assert caught.value.non_retryable is False
    assert caught.value.type == "LLM_UNAVAILABLE"


def test_activity_error_for_a_permanent_failure_is_non_retryable() -> None:
    """A permanent failure becomes a non-retryable ApplicationError that keeps its hint."""
    error = provider_error(401, "Incorrect API key provided", code="invalid_api_key")
    with pytest.raises(ApplicationError) as caught:
        raise_as_activity_error(error)
    raised = caught.value
    assert raised.non_retryable is True
    assert raised.type == "LLM_invalid_api_key"
    assert raised.next_retry_delay is None
    assert "OPENAI_API_KEY" in raised.message
    assert raised.__cause__ is error
