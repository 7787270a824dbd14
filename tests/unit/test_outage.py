"""An LLM outage of hours, waited out (or not) on the time-skipping server."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, RetryState
from temporalio.client import WorkflowHandle

from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.errors import ProviderError
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.types import (
    AgentInput,
    AgentResult,
    AgentStatus,
    Message,
    RetrySettings,
    ToolCall,
    TranscriptPage,
    TranscriptRequest,
)
from agentic_loop.workflow import AgentWorkflow
from support import RunAgent

HOUR = 3600.0
OUTAGE_SECONDS = 3 * HOUR
ANSWER = "5 + 3 = 8, computed before the outage and kept through it."


def _script_with_an_outage_on_the_second_turn() -> ScriptedLLM:
    """A tool result lands in the transcript, then the provider goes down for three hours."""
    return ScriptedLLM.from_data(
        {
            "turns": [
                {"tool_calls": [{"name": "calculator", "arguments": {"expression": "5 + 3"}}]},
                {
                    "expect": {"role": "tool", "contains": "8"},
                    "faults": [{"outage_seconds": OUTAGE_SECONDS, "message": "upstream is down"}],
                    "content": ANSWER,
                },
            ]
        },
        name="outage",
    )


def _patient(schedule_to_close_seconds: float) -> RetrySettings:
    """Unlimited attempts, at most five minutes apart, bounded by a total wait."""
    return RetrySettings(
        maximum_attempts=0,
        maximum_interval_seconds=300,
        schedule_to_close_seconds=schedule_to_close_seconds,
    )


async def test_an_outage_fault_fails_retryably_until_its_window_has_passed() -> None:
    """Attempts scheduled inside the window get a retryable 503 whatever their number; the
    first one scheduled after it gets the scripted answer."""
    llm = _script_with_an_outage_on_the_second_turn()
    messages = [
        Message(role="user", content="add 5 and 3"),
        Message(role="assistant", tool_calls=[ToolCall(id="c", name="calculator")]),
        Message(role="tool", content="8", tool_call_id="c", name="calculator"),
    ]
    for attempt, elapsed in [(1, 0.0), (2, 1.0), (40, OUTAGE_SECONDS - 0.001)]:
        with pytest.raises(ProviderError) as raised:
            await llm.complete(
                CompletionRequest(messages, attempt=attempt, elapsed_seconds=elapsed)
            )
        assert (raised.value.status_code, raised.value.retryable) == (503, True)
    answer = await llm.complete(
        CompletionRequest(messages, attempt=41, elapsed_seconds=OUTAGE_SECONDS)
    )
    assert answer.content == ANSWER


async def _retry_states(handle: WorkflowHandle[Any, AgentResult]) -> list[RetryState.ValueType]:
    """Why each failed activity stopped being retried, as its final history event says."""
    history = await handle.fetch_history()
    return [
        e.activity_task_failed_event_attributes.retry_state
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]


async def test_an_outage_of_hours_is_waited_out_and_the_transcript_is_kept(
    run_agent: RunAgent,
) -> None:
    """Unlimited attempts bounded by a six-hour schedule-to-close outlast a three-hour 503
    outage: the run completes and its transcript holds every message from before it."""
    llm = _script_with_an_outage_on_the_second_turn()
    run = await run_agent(llm, AgentInput(goal="add 5 and 3", llm_retry=_patient(6 * HOUR)))
    assert run.result.status == AgentStatus.COMPLETED
    assert run.result.answer == ANSWER
    second_turn = [r for r in llm.requests if sum(m.role == "assistant" for m in r.messages) == 1]
    # Many attempts, the last one scheduled after the outage ended, in server time.
    assert len(second_turn) > 10
    assert second_turn[-1].elapsed_seconds >= OUTAGE_SECONDS
    assert all(r.elapsed_seconds < OUTAGE_SECONDS for r in second_turn[:-1])
    page: TranscriptPage = await run.handle.query(AgentWorkflow.transcript, TranscriptRequest())
    assert [(m.role, m.content) for m in page.messages[2:]] == [
        ("assistant", ""),
        ("tool", "8"),
        ("assistant", ANSWER),
    ]
    # The attempt that finally succeeded was sent the whole conversation, goal included.
    assert [m.content for m in second_turn[-1].messages[1:]] == ["add 5 and 3", "", "8"]


async def test_a_schedule_to_close_shorter_than_the_outage_fails_the_run_with_a_reason(
    run_agent: RunAgent,
) -> None:
    """A one-hour schedule-to-close gives up on a three-hour outage: the run ends failed with
    the provider's last error and the reason retries stopped (also in history), and the
    transcript from before the outage is kept."""
    llm = _script_with_an_outage_on_the_second_turn()
    run = await run_agent(llm, AgentInput(goal="add 5 and 3", llm_retry=_patient(HOUR)))
    assert run.result.status == AgentStatus.FAILED
    assert run.result.error == (
        "LLM_HTTP_503: HTTP 503: upstream is down "
        "(gave up when the retry policy's schedule-to-close timeout ran out)"
    )
    assert max(r.elapsed_seconds for r in llm.requests) < HOUR
    assert await _retry_states(run.handle) == [RetryState.RETRY_STATE_TIMEOUT]
    assert run.result.transcript_length == 4


async def test_the_default_policy_gives_up_on_a_long_outage_after_five_attempts(
    run_agent: RunAgent,
) -> None:
    """The default LLM policy (5 attempts, 1 s doubling) spends about 15 s of back-off, so a
    three-hour outage fails the run after five attempts with the provider's 503 message."""
    llm = _script_with_an_outage_on_the_second_turn()
    run = await run_agent(llm, AgentInput(goal="add 5 and 3"))
    assert run.result.status == AgentStatus.FAILED
    assert run.result.error is not None
    assert "503" in run.result.error
    assert "upstream is down" in run.result.error
    assert run.result.error.endswith("(gave up after the retry policy's maximum attempts)")
    second_turn = [r for r in llm.requests if sum(m.role == "assistant" for m in r.messages) == 1]
    assert [r.attempt for r in second_turn] == [1, 2, 3, 4, 5]
    print("back-off before the fifth attempt:", second_turn[-1].elapsed_seconds, "s")
    assert second_turn[-1].elapsed_seconds < 60
    assert await _retry_states(run.handle) == [RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED]
