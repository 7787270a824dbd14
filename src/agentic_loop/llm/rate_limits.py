"""How long a provider asked us to wait, read from everything it says about it.

A rate-limited provider says when to come back in several ways, and a run that retries
before the window reopens gives up inside it (the default policy's back-offs are 1, 3, 7 and
15 s; OpenAI's token window is often minutes). In order of authority:

| source | form | example |
| --- | --- | --- |
| `retry-after-ms` | milliseconds | `1500` |
| `retry-after` | seconds, or an HTTP date | `20`, `Wed, 21 Oct 2026 07:28:00 GMT` |
| `x-ratelimit-reset-requests`, `-tokens` (OpenAI) | Go duration | `1s`, `6m0s`, `20ms` |
| `anthropic-ratelimit-*-reset` (Anthropic) | RFC 3339 time | `2026-12-01T20:00:26Z` |
| the error message (OpenAI), last resort | "try again in ..." | `Please try again in 26.604s.` |
| `x-should-retry` | `true` / `false` | overrides whether to retry at all |

The longest wait that applies wins, capped: a reset of a limit that is not exhausted (its
`remaining` header is above zero) does not apply. Dates are read against the response's own
`Date` header when it has one, so a skewed local clock does not stretch the wait.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Never wait longer than this for one retry, whatever the provider says (a broken header, a
# daily quota reported as a reset time): past it the retry policy's own back-off applies.
DEFAULT_MAX_DELAY_SECONDS = 600.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_TRY_AGAIN = re.compile(r"try again in\s+((?:\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s))+)", re.I)
# The OpenAI limits whose reset headers say when they refill, with their `remaining` header.
_OPENAI_LIMITS = ("requests", "tokens")
_ANTHROPIC_RESET = re.compile(r"anthropic-ratelimit-([a-z-]+)-reset")


@dataclass(frozen=True)
class RetryAdvice:
    # Seconds to wait before the next attempt; None: nothing said, the policy decides.
    delay: float | None = None
    # What `x-should-retry` said; None: not said, the status decides.
    should_retry: bool | None = None


def parse_duration(text: str) -> float | None:
    """A Go-style duration ("1s", "6m0s", "1h2m3.5s", "20ms") in seconds; None if it is not
    one."""
    text = text.strip()
    if not text:
        return None
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return total if position == len(text) else None


def _seconds(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _until(moment: datetime, reference: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - reference).total_seconds()


def _http_date(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _rfc3339(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def retry_advice(
    headers: Mapping[str, str] | None,
    message: str | None = None,
    *,
    now: datetime | None = None,
    max_delay: float = DEFAULT_MAX_DELAY_SECONDS,
) -> RetryAdvice:
    """What a failed response says about retrying: the wait (the longest that applies,
    capped at `max_delay`) and `x-should-retry`."""
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    date = _http_date(lower["date"]) if "date" in lower else None
    reference = date or now or datetime.now(UTC)
    waits: list[float] = []

    milliseconds = _seconds(lower.get("retry-after-ms", ""))
    if milliseconds is not None and milliseconds >= 0:
        waits.append(milliseconds / 1000)
    elif "retry-after" in lower:
        raw = lower["retry-after"].strip()
        seconds = _seconds(raw)
        if seconds is None:
            at = _http_date(raw)
            seconds = _until(at, reference) if at is not None else None
        if seconds is not None and seconds >= 0:
            waits.append(seconds)

    for limit in _OPENAI_LIMITS:
        reset = parse_duration(lower.get(f"x-ratelimit-reset-{limit}", ""))
        remaining = _seconds(lower.get(f"x-ratelimit-remaining-{limit}", ""))
        if reset is not None and (remaining is None or remaining <= 0):
            waits.append(reset)

    for name, value in lower.items():
        match = _ANTHROPIC_RESET.fullmatch(name)
        if match is None:
            continue
        remaining = _seconds(lower.get(f"anthropic-ratelimit-{match.group(1)}-remaining", ""))
        at = _rfc3339(value)
        if at is not None and (remaining is None or remaining <= 0):
            waits.append(_until(at, reference))

    if not waits and message:
        hint = _TRY_AGAIN.search(message)
        duration = parse_duration(hint.group(1)) if hint else None
        if duration is not None:
            waits.append(duration)

    should_retry = {"true": True, "false": False}.get(lower.get("x-should-retry", "").strip())
    usable = [w for w in waits if w >= 0]
    delay = min(max(usable), max_delay) if usable else None
    return RetryAdvice(delay=delay, should_retry=should_retry)
