"""The line that says what an agent is doing while nothing else shows: "thinking… 4 s", or
"LLM call failed: HTTP 429 rate limited, retry 2/5 in 4 s". It is read off the server's
description of the run (its pending activities: attempt, last failure, next attempt), so it
shows the truth of the run, whichever worker runs it.

At a terminal the line is redrawn in place; elsewhere (a pipe, a log) only the retries are
printed, a line each, since a redrawn line would be noise there."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TextIO

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import WorkflowExecutionDescription
from temporalio.service import RPCError

from agentic_loop.cli.common import Handle
from agentic_loop.cli.output import shorten

# The server is asked at most this often: the line moves in whole seconds anyway.
DESCRIBE_SECONDS = 0.5
_CLEAR = "\r\x1b[K"


def _seconds_since(moment: datetime, now: datetime) -> int:
    return max(0, int((now - moment).total_seconds()))


def _what(activity: PendingActivityInfo) -> str:
    return "LLM call" if activity.activity_type.name == "call_llm" else "tool call"


def activity_line(activity: PendingActivityInfo, now: datetime) -> str | None:
    """What one pending activity means to a person, or None when there is nothing to say."""
    if (
        activity.attempt > 1
        and activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
    ):
        failure = activity.last_failure.message or "no reason given"
        most = activity.maximum_attempts
        attempts = f"{activity.attempt}/{most}" if most else str(activity.attempt)
        wait = ""
        if activity.HasField("next_attempt_schedule_time"):
            at = activity.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
            wait = f" in {max(0, round((at - now).total_seconds()))} s"
        return f"{_what(activity)} failed: {shorten(failure, 80)}, retry {attempts}{wait}"
    if activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
        since = _seconds_since(activity.last_started_time.ToDatetime(tzinfo=UTC), now)
        doing = "thinking" if activity.activity_type.name == "call_llm" else "running a tool"
        retry = f" (attempt {activity.attempt})" if activity.attempt > 1 else ""
        return f"{doing}… {since} s{retry}"
    return None


def describe_line(description: WorkflowExecutionDescription, now: datetime) -> str | None:
    """The live line of a run: its first pending activity with something to say."""
    for activity in description.raw_description.pending_activities:
        line = activity_line(activity, now)
        if line is not None:
            return line
    return None


def shows_live(out: TextIO) -> bool:
    """Whether a line can be redrawn in place on `out` (a terminal that is not "dumb")."""
    try:
        return out.isatty() and os.environ.get("TERM", "") != "dumb"
    except ValueError:  # closed
        return False


class LiveLine:
    """Keeps the live line of one run on `out`. Call `clear()` before printing anything else
    and `update()` after."""

    def __init__(self, out: TextIO, *, at_terminal: bool) -> None:
        self.out = out
        self.at_terminal = at_terminal
        self._shown = ""
        self._asked = 0.0
        self._line: str | None = None
        self._retries_said: set[tuple[str, int]] = set()

    def clear(self) -> None:
        if self._shown:
            print(_CLEAR, end="", file=self.out, flush=True)
            self._shown = ""

    async def update(self, handle: Handle) -> None:
        if time.monotonic() - self._asked >= DESCRIBE_SECONDS:
            self._asked = time.monotonic()
            try:
                description = await handle.describe()
            except RPCError:
                return
            self._line = describe_line(description, datetime.now(UTC))
            if not self.at_terminal:
                self._say_retries(description)
        if self.at_terminal and self._line and self._line != self._shown:
            print(f"{_CLEAR}{self._line}", end="", file=self.out, flush=True)
            self._shown = self._line
        elif self.at_terminal and not self._line:
            self.clear()

    def _say_retries(self, description: WorkflowExecutionDescription) -> None:
        now = datetime.now(UTC)
        for activity in description.raw_description.pending_activities:
            key = (activity.activity_id, activity.attempt)
            line = activity_line(activity, now)
            if activity.attempt > 1 and key not in self._retries_said and line and "retry" in line:
                self._retries_said.add(key)
                print(line, file=self.out, flush=True)
