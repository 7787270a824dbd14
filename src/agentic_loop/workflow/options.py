"""Timeouts and retries of every activity the loop schedules, in one place.

One dataclass per kind of activity, spread into the regular and the local activity call
alike, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from agentic_loop.types import AgentInput, RetrySettings

# The longest a running activity goes without a heartbeat before Temporal declares its worker
# dead: a cancelled workflow reaches the call, and a crash is noticed, within seconds.
MAX_HEARTBEAT_SECONDS = 10.0


def retry_policy(settings: RetrySettings) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=settings.initial_interval_seconds),
        backoff_coefficient=settings.backoff_coefficient,
        maximum_interval=timedelta(seconds=settings.maximum_interval_seconds),
        maximum_attempts=settings.maximum_attempts,
    )


@dataclass(frozen=True)
class ActivityOptions:
    start_to_close: timedelta
    schedule_to_close: timedelta | None
    retry: RetryPolicy
    # None for local activities, which cannot heartbeat.
    heartbeat: timedelta | None

    @classmethod
    def of(cls, timeout_seconds: float, retry: RetrySettings) -> ActivityOptions:
        closing = retry.schedule_to_close_seconds
        return cls(
            start_to_close=timedelta(seconds=timeout_seconds),
            schedule_to_close=timedelta(seconds=closing) if closing is not None else None,
            retry=retry_policy(retry),
            heartbeat=timedelta(seconds=min(MAX_HEARTBEAT_SECONDS, timeout_seconds)),
        )

    def local(self) -> dict[str, Any]:
        """Keyword arguments of `workflow.execute_local_activity*`."""
        return {
            "start_to_close_timeout": self.start_to_close,
            "schedule_to_close_timeout": self.schedule_to_close,
            "retry_policy": self.retry,
        }

    def regular(self) -> dict[str, Any]:
        """Keyword arguments of `workflow.execute_activity*`: the same, heartbeating."""
        return {**self.local(), "heartbeat_timeout": self.heartbeat}


def llm_options(agent_input: AgentInput) -> ActivityOptions:
    return ActivityOptions.of(agent_input.llm_timeout_seconds, agent_input.llm_retry)


def tool_options(agent_input: AgentInput, timeout_seconds: float | None = None) -> ActivityOptions:
    """A tool call's options; `timeout_seconds`: the tool's own limit, when it has one."""
    timeout = timeout_seconds if timeout_seconds is not None else agent_input.tool_timeout_seconds
    return ActivityOptions.of(timeout, agent_input.tool_retry)
