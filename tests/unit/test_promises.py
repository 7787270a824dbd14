"""Promises of the README read from the history itself: how long the durable timers last, how
the LLM activity is scheduled, and what happens to messages sent while a run continues as new.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import (
    AgentInput,
    AgentProgress,
    AgentStatus,
    ApprovalRequest,
    UserMessage,
)
from agentic_loop.workflow import AgentWorkflow
from support import until_status


async def _status(handle: Any) -> AgentProgress:
    progress: AgentProgress = await handle.query(AgentWorkflow.status)
    return progress


def _events(history: WorkflowHistory, kind: EventType.ValueType) -> list[HistoryEvent]:
    return [e for e in history.events if e.event_type == kind]


def _timers(history: WorkflowHistory) -> list[timedelta]:
    return [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in _events(history, EventType.EVENT_TYPE_TIMER_STARTED)
    ]


def _search() -> ScriptedLLM:
    return ScriptedLLM.from_data(
        {
            "turns": [
                {"tool_calls": [{"id": "s1", "name": "web_search", "arguments": {"query": "x"}}]},
                {"expect": {"role": "tool"}, "content": "done"},
            ]
        }
    )


async def test_the_approval_timer_lasts_exactly_approval_timeout_seconds(agents: Any) -> None:
    """The durable timer a call waits on is started for approval_timeout_seconds (read from
    the TimerStarted event), and when it fires the call counts as rejected by timeout."""
    agent_input = AgentInput(
        goal="look up", approval_required=["web_search"], approval_timeout_seconds=90
    )
    handle = await agents.start(_search(), agent_input)
    result = await handle.result()  # the time-skipping server jumps over the 90 s
    assert _timers(await handle.fetch_history()) == [timedelta(seconds=90)]
    audit = next(m for m in result.transcript if m.role == "approval")
    assert audit.content.startswith("rejected by timeout: no decision within 90 s")


async def test_the_idle_timer_lasts_exactly_idle_timeout_seconds(agents: Any) -> None:
    """A conversation waiting for the user starts one timer of idle_timeout_seconds and ends
    idle_timeout when it fires."""
    llm = ScriptedLLM.from_data({"turns": [{"content": "hello"}]})
    handle = await agents.start(llm, AgentInput(goal="hi", chat=True, idle_timeout_seconds=600))
    result = await handle.result()
    assert result.status == AgentStatus.IDLE_TIMEOUT
    assert _timers(await handle.fetch_history()) == [timedelta(seconds=600)]


async def test_the_llm_activity_is_scheduled_with_a_heartbeat_timeout(agents: Any) -> None:
    """call_llm is scheduled with a heartbeat timeout of min(10 s, llm_timeout_seconds), so a
    hung provider call is noticed, and a cancellation reaches it, within seconds rather than
    after the whole start-to-close timeout."""
    for llm_timeout, heartbeat in ((120.0, 10.0), (4.0, 4.0)):
        llm = ScriptedLLM.from_data({"turns": [{"content": "ok"}]})
        handle = await agents.start(llm, AgentInput(goal="hi", llm_timeout_seconds=llm_timeout))
        await handle.result()
        [scheduled] = _events(
            await handle.fetch_history(), EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        )
        attributes = scheduled.activity_task_scheduled_event_attributes
        assert attributes.activity_type.name == "call_llm"
        assert attributes.heartbeat_timeout.ToTimedelta() == timedelta(seconds=heartbeat)
        assert attributes.start_to_close_timeout.ToTimedelta() == timedelta(seconds=llm_timeout)


@pytest.mark.dev_server  # continues as new while the test talks to it (servers.py says why)
async def test_messages_queued_while_a_run_continues_as_new_are_answered_by_the_next(
    agents: Any,
) -> None:
    """Two messages sent while the first request waits for approval are queued; the run
    continues as new at the next turn boundary carrying them, and the next run answers both,
    in order."""
    llm = ScriptedLLM.from_data(
        {
            "turns": [
                {"tool_calls": [{"id": "s1", "name": "web_search", "arguments": {"query": "x"}}]},
                {"expect": {"role": "tool"}, "content": "first answer"},
                {"expect": {"role": "user", "contains": "second"}, "content": "second answer"},
                {"expect": {"role": "user", "contains": "third"}, "content": "third answer"},
            ]
        }
    )
    agent_input = AgentInput(
        goal="first", chat=True, approval_required=["web_search"], continue_as_new_after_events=4
    )
    handle = await agents.start(llm, agent_input)
    await until_status(handle, lambda p: bool(p.awaiting_approval), what="an approval")
    first_run = (await handle.describe()).run_id
    for text in ("second", "third"):
        await handle.execute_update(AgentWorkflow.send_message, UserMessage(text))
    await handle.execute_update(AgentWorkflow.approve, ApprovalRequest())
    progress = await until_status(
        handle,
        lambda p: p.phase == "waiting for the user" and p.requests == 3 and p.turns == 4,
        what="both queued messages answered",
    )
    assert progress.requests == 3
    assert (await handle.describe()).run_id != first_run
    # The first run ended by continuing as new, with the two messages still unanswered.
    first_handle = agents.env.client.get_workflow_handle(handle.id, run_id=first_run)
    first = await first_handle.fetch_history()
    assert first.events[-1].event_type == (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)
    answers = [m.content for m in llm.requests[-1].messages if m.role == "assistant"]
    assert answers == ["", "first answer", "second answer"]
    await handle.signal(AgentWorkflow.end)
    result = await handle.result()
    assert result.status == AgentStatus.ENDED
    whole = await read_transcript(agents.env.client, handle.id)
    assert [m.content for m in whole if m.role == "user"] == ["first", "second", "third"]
    assert [m.content for m in whole if m.role == "assistant"][-2:] == [
        "second answer",
        "third answer",
    ]
