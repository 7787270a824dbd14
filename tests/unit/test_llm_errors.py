"""The error taxonomy: which provider failures are retried, and how Temporal is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from agentic_loop.llm.errors import (
    ProviderError,
    provider_error,
    raise_as_activity_error,
)
from agentic_loop.llm.rate_limits import parse_duration, retry_advice


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


NOW = datetime(2026, 12, 1, 20, 0, 0, tzinfo=UTC)


def _delay(headers: dict[str, str] | None, message: str | None = None) -> float | None:
    return retry_advice(headers, message, now=NOW).delay


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
        ({"retry-after": "Tue, 01 Dec 2026 20:00:45 GMT"}, 45.0),
        # A date is read against the response's own clock when it says what time it is.
        (
            {
                "retry-after": "Tue, 01 Dec 2026 20:00:45 GMT",
                "date": "Tue, 01 Dec 2026 20:00:40 GMT",
            },
            5.0,
        ),
    ],
)
def test_retry_after_in_ms_seconds_or_as_an_http_date(
    headers: dict[str, str], expected: float
) -> None:
    """retry-after-ms wins over retry-after; retry-after is seconds or an HTTP date; header
    names are case-insensitive."""
    assert _delay(headers) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("26.604s", 26.604)],
)
def test_openai_durations_are_read(text: str, seconds: float) -> None:
    """OpenAI's reset headers use Go durations; each form is read in seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1 s", "5x", "s"])
def test_what_is_not_a_duration_is_none(text: str) -> None:
    """Anything that is not a whole duration gives None, never a guess."""
    assert parse_duration(text) is None


def test_an_exhausted_limits_reset_is_waited_for_and_the_longest_wins() -> None:
    """With only x-ratelimit-reset-requests (26 s) the wait is 26 s; with retry-after 2 and
    an exhausted token limit resetting in 6m0s, the longest applies: 360 s."""
    assert _delay({"x-ratelimit-reset-requests": "26s"}) == 26.0
    assert (
        _delay(
            {
                "retry-after": "2",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "6m0s",
            }
        )
        == 360.0
    )


def test_the_reset_of_a_limit_that_is_not_exhausted_does_not_apply() -> None:
    """A token window that still has room does not make a requests-limited call wait for it."""
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "39000",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert _delay(headers) == 1.0


def test_anthropic_reset_times_are_read_against_the_response_date() -> None:
    """anthropic-ratelimit-*-reset (RFC 3339) of an exhausted limit is the wait until then."""
    headers = {
        "date": "Tue, 01 Dec 2026 20:00:00 GMT",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-12-01T20:00:30Z",
        "anthropic-ratelimit-tokens-remaining": "5000",
        "anthropic-ratelimit-tokens-reset": "2026-12-01T20:05:00Z",
    }
    assert _delay(headers) == 30.0


def test_the_messages_hint_is_the_last_resort() -> None:
    """ "Please try again in 26.604s" is read only when no header says anything."""
    message = "Rate limit reached ... Please try again in 26.604s. Visit ..."
    assert _delay({}, message) == pytest.approx(26.604)
    assert _delay({"retry-after": "3"}, message) == 3.0
    assert _delay({}, "Please try again later.") is None


def test_a_wait_is_capped_and_nonsense_is_ignored() -> None:
    """A wait over the cap is the cap; negative, unparsable or absent values give None."""
    assert retry_advice({"retry-after": "86400"}, now=NOW, max_delay=600).delay == 600
    for headers in (None, {}, {"retry-after": "soon"}, {"retry-after": "-1"}):
        assert _delay(headers) is None
    assert _delay({"retry-after-ms": "abc", "retry-after": "4"}) == 4.0


def test_x_should_retry_overrides_the_status() -> None:
    """x-should-retry false makes a 429 final, true makes a 400 retryable; a permanent code
    (insufficient quota) stays final whatever the header says."""
    assert retry_advice({"x-should-retry": "false"}).should_retry is False
    assert retry_advice({"x-should-retry": "true"}).should_retry is True
    assert retry_advice({}).should_retry is None
    assert not provider_error(429, "no", should_retry=False).retryable
    assert provider_error(400, "odd", should_retry=True).retryable
    assert not provider_error(429, "q", code="insufficient_quota", should_retry=True).retryable


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
