"""A tool's own options, set with @tool on the worker, take effect in the workflow: its calls
wait for approval, its activity has the tool's time limit, and both are recorded with the turn
so a replay decides the same."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.tools import ToolRegistry, default_registry, tool
from agentic_loop.types import AgentInput, AgentProgress, AgentStatus, ApprovalRequest
from agentic_loop.workflow import AgentWorkflow
from support import until_status

effects: list[str] = []


@tool(approval=True)
def send_email(to: str) -> str:
    """Send an email (a side effect a person must approve)."""
    effects.append(to)
    return f"sent to {to}"


@tool(timeout_seconds=7)
def slow_lookup(query: str) -> str:
    """Look something up; it has a time limit of its own."""
    return f"found {query}"


@tool(pure=True, approval=True)
def pure_but_guarded(text: str) -> str:
    """Pure, so it could run inline; it needs approval, so it must not."""
    effects.append(f"guarded:{text}")
    return text.upper()


def _registry() -> ToolRegistry:
    registry = default_registry()
    for extra in (send_email, slow_lookup, pure_but_guarded):
        registry.register(extra)
    return registry


def _calls(name: str, arguments: dict[str, Any]) -> ScriptedLLM:
    return ScriptedLLM.from_data(
        {
            "turns": [
                {"tool_calls": [{"id": "c1", "name": name, "arguments": arguments}]},
                {"expect": {"role": "tool"}, "content": "done"},
            ]
        }
    )


async def _status(handle: Any) -> AgentProgress:
    progress: AgentProgress = await handle.query(AgentWorkflow.status)
    return progress


async def _until_awaiting(handle: Any) -> AgentProgress:
    return await until_status(handle, lambda p: bool(p.awaiting_approval), what="an approval")


def _scheduled_tool_timeouts(history: WorkflowHistory) -> list[timedelta]:
    return [
        e.activity_task_scheduled_event_attributes.start_to_close_timeout.ToTimedelta()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "run_tool"
    ]


async def test_a_tool_registered_with_approval_waits_for_a_person(agents: Any) -> None:
    """`@tool(approval=True)` makes its call wait though the input lists no approval tools;
    nothing runs before the decision, and approving runs it once."""
    effects.clear()
    handle = await agents.start(
        _calls("send_email", {"to": "ana@example.com"}),
        AgentInput(goal="mail ana"),
        tools=_registry(),
    )
    progress = await _until_awaiting(handle)
    assert [c.name for c in progress.awaiting_approval] == ["send_email"]
    assert effects == []
    await handle.execute_update(AgentWorkflow.approve, ApprovalRequest())
    result = await handle.result()
    assert result.status == AgentStatus.COMPLETED
    assert effects == ["ana@example.com"]
    assert [m.role for m in result.transcript if m.role in ("approval", "tool")] == [
        "approval",
        "tool",
    ]


async def test_a_pure_tool_that_needs_approval_is_never_run_inline(agents: Any) -> None:
    """A pure tool listed inline still waits for approval, and a rejection means it never
    ran at all (neither inline nor as an activity)."""
    effects.clear()
    handle = await agents.start(
        _calls("pure_but_guarded", {"text": "hi"}),
        AgentInput(goal="shout", inline_tools=["pure_but_guarded"]),
        tools=_registry(),
    )
    await _until_awaiting(handle)
    await handle.execute_update(AgentWorkflow.reject, ApprovalRequest(reason="no"))
    result = await handle.result()
    assert effects == []
    tool_message = next(m for m in result.transcript if m.role == "tool")
    assert tool_message.is_error
    assert "rejected" in tool_message.content


async def test_a_tool_with_its_own_timeout_gets_it_as_its_activity_timeout(agents: Any) -> None:
    """The run_tool activity of `@tool(timeout_seconds=7)` is scheduled with a 7 s
    start-to-close timeout (read from history), other tools with the input's."""
    agent_input = AgentInput(goal="look up", inline_tools=[], tool_timeout_seconds=30)
    handle = await agents.start(
        _calls("slow_lookup", {"query": "x"}), agent_input, tools=_registry()
    )
    assert (await handle.result()).status == AgentStatus.COMPLETED
    assert _scheduled_tool_timeouts(await handle.fetch_history()) == [timedelta(seconds=7)]

    other = await agents.start(
        _calls("web_search", {"query": "temporal"}), agent_input, tools=_registry()
    )
    await other.result()
    assert _scheduled_tool_timeouts(await other.fetch_history()) == [timedelta(seconds=30)]
