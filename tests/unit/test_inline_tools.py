"""Inline tools: calls the LLM activity answers itself (AgentInput.inline_tools, by default the
calculator), with their fall-backs to activities of their own."""

from __future__ import annotations

from collections import Counter
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.testing import ActivityEnvironment

from agentic_loop.activities import LLMActivities, inline_tool_runner
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.tools import Tool, ToolContext, ToolRegistry, default_registry
from agentic_loop.transcript.cache import TranscriptCache
from agentic_loop.transcript.keys import tool_idempotency_key, tool_message, tool_result_key
from agentic_loop.types import (
    AgentInput,
    AgentProgress,
    AgentStatus,
    ApprovalRequest,
    LLMRequest,
    LLMTurn,
    Message,
    ToolRequest,
    ToolResult,
)
from agentic_loop.workflow import AgentWorkflow
from support import RunAgent, load_script, until_status

SEED_GOAL = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"


def _event_kinds(history: WorkflowHistory) -> Counter[str]:
    """How many activities of each type were scheduled, and how many markers recorded."""
    kinds: Counter[str] = Counter()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            kinds[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            kinds["marker"] += 1
    return kinds


def _calculation(name: str = "calculator") -> ScriptedLLM:
    return ScriptedLLM.from_data(
        {
            "turns": [
                {"tool_calls": [{"id": "c1", "name": name, "arguments": {"expression": "6 * 7"}}]},
                {"expect": {"role": "tool", "contains": "42"}, "content": "It is 42."},
            ]
        }
    )


# --- in the workflow -------------------------------------------------------------------------


async def test_the_calculator_runs_inside_the_llm_activity_by_default(
    run_agent: RunAgent,
) -> None:
    """With the default input the calculator's call is answered by the LLM activity that asked
    for it: no tool activity and no marker in history, one activity per step, and the model
    still sees the result on its next turn."""
    run = await run_agent(load_script("seed"), goal=SEED_GOAL)
    assert run.result.status == AgentStatus.COMPLETED
    assert "8" in run.result.answer
    history = await run.handle.fetch_history()
    assert _event_kinds(history) == Counter({"call_llm": 2})
    # The result is recorded once: in the call_llm result that carried it.
    turns = [
        DataConverter.default.payload_converter.from_payload(
            e.activity_task_completed_event_attributes.result.payloads[0], LLMTurn
        )
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    assert [[(r.name, r.content) for r in t.tool_results] for t in turns] == [
        [("calculator", "8")],
        [],
    ]
    assert run.result.tool_calls == 1
    assert [m.role for m in run.result.transcript] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert run.result.transcript[3].content == "8"


async def test_without_inline_tools_the_calculator_is_a_local_activity_again(
    run_agent: RunAgent,
) -> None:
    """`inline_tools=[]` gives back the local activity (one marker) and the same transcript."""
    inline = await run_agent(load_script("seed"), goal=SEED_GOAL)
    local = await run_agent(load_script("seed"), goal=SEED_GOAL, inline_tools=[])
    history = await local.handle.fetch_history()
    assert _event_kinds(history) == Counter({"call_llm": 2, "marker": 1})
    assert local.result.transcript == inline.result.transcript
    assert len(history.events) == len((await inline.handle.fetch_history()).events) + 1


async def test_inline_and_activity_tools_of_one_turn_keep_the_models_order(
    run_agent: RunAgent,
) -> None:
    """A turn asking for the calculator (inline) and web_search (its own activity) gets both
    results, in the order the model asked for them."""
    llm = load_script("parallel_tools")
    run = await run_agent(llm)
    assert run.result.status == AgentStatus.COMPLETED
    assert _event_kinds(await run.handle.fetch_history()) == Counter({"call_llm": 2, "run_tool": 1})
    tools = [m for m in llm.requests[-1].messages if m.role == "tool"]
    assert [m.name for m in tools] == ["calculator", "web_search"]
    assert tools[0].content == "84"


async def test_listing_a_tool_that_is_not_pure_inline_still_runs_it_as_an_activity(
    run_agent: RunAgent,
) -> None:
    """An input that lists web_search as inline gets it run as its own activity anyway: the
    worker's registry says it is not pure."""
    run = await run_agent(load_script("parallel_tools"), inline_tools=["calculator", "web_search"])
    assert run.result.status == AgentStatus.COMPLETED
    assert _event_kinds(await run.handle.fetch_history()) == Counter({"call_llm": 2, "run_tool": 1})


class _FailsOnce:
    """A tool that raises on its first call (the inline one) and answers after."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, args: dict[str, Any], context: ToolContext) -> str:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("the first call breaks")
        return f"answered on call {self.calls} for {context.idempotency_key}"


async def test_an_inline_tool_that_raises_runs_as_its_own_activity(run_agent: RunAgent) -> None:
    """An inline call whose tool raises is not lost: the workflow runs it as a regular
    activity, with the same idempotency key, and the model gets that result."""
    flaky = _FailsOnce()
    tools = ToolRegistry(
        [Tool("flaky", "breaks once", {"type": "object", "properties": {}}, flaky, pure=True)]
    )
    llm = ScriptedLLM.from_data(
        {
            "turns": [
                {"tool_calls": [{"id": "f1", "name": "flaky", "arguments": {}}]},
                {"expect": {"role": "tool", "contains": "answered on call 2"}, "content": "ok"},
            ]
        }
    )
    run = await run_agent(llm, tools=tools, inline_tools=["flaky"], local_tools=[])
    assert run.result.status == AgentStatus.COMPLETED
    assert flaky.calls == 2
    assert _event_kinds(await run.handle.fetch_history()) == Counter({"call_llm": 2, "run_tool": 1})
    (tool,) = [m for m in run.result.transcript if m.role == "tool"]
    assert tool.content.endswith(f"{run.handle.id}/1/f1")


async def _status(handle: Any) -> AgentProgress:
    progress: AgentProgress = await handle.query(AgentWorkflow.status, result_type=AgentProgress)
    return progress


async def test_a_tool_that_needs_approval_is_never_run_inline(agents: Any) -> None:
    """The calculator listed in approval_required waits for the decision even though it is
    an inline tool, and runs (as a local activity) only once approved."""
    llm = _calculation()
    handle = await agents.start(llm, AgentInput(goal="6 * 7", approval_required=["calculator"]))
    await until_status(handle, lambda p: p.phase == "waiting for approval", what="approval")
    await handle.execute_update(AgentWorkflow.approve, ApprovalRequest())
    result = await handle.result()
    assert result.status == AgentStatus.COMPLETED
    assert [m.role for m in result.transcript][2:5] == ["assistant", "approval", "tool"]
    assert _event_kinds(await handle.fetch_history()) == Counter({"call_llm": 2, "marker": 1})


# --- in the activity -------------------------------------------------------------------------


def _request(inline_tools: list[str]) -> LLMRequest:
    return LLMRequest(
        turn=3,
        history_length=0,
        new_messages=[Message(role="user", content="6 * 7, and search")],
        inline_tools=inline_tools,
        conversation_id="conv",
    )


def _two_calls() -> ScriptedLLM:
    return ScriptedLLM.from_data(
        {
            "turns": [
                {
                    "tool_calls": [
                        {"id": "a", "name": "calculator", "arguments": {"expression": "6 * 7"}},
                        {"id": "b", "name": "web_search", "arguments": {"query": "Temporal"}},
                    ]
                }
            ]
        }
    )


async def test_call_llm_answers_only_the_calls_of_inline_tools_and_caches_them() -> None:
    """The activity returns results for the inline tools' calls only, each also kept in the
    cache under the key the workflow's next request refers to."""
    cache = TranscriptCache()
    activities = LLMActivities(_two_calls(), default_registry(), cache)
    env = ActivityEnvironment()
    turn = await env.run(activities.call_llm, _request(["calculator"]))
    assert [c.id for c in turn.tool_calls] == ["a", "b"]
    assert turn.tool_results == [ToolResult(call_id="a", name="calculator", content="42")]
    key = tool_idempotency_key(env.info.workflow_id or "", 3, "a")
    assert cache.recall(tool_result_key(key)) == tool_message(turn.tool_results[0])


async def test_call_llm_runs_no_tool_when_the_request_names_none() -> None:
    """A request without inline tools (as every request recorded before them) gets a turn
    without results, so the workflow runs each call as an activity, as it always did."""
    seen: list[str] = []

    async def spy(args: dict[str, Any], context: ToolContext) -> str:
        seen.append(context.idempotency_key)
        return "ran"

    tools = ToolRegistry(
        [Tool("calculator", "spy", {"type": "object", "properties": {}}, spy, pure=True)]
    )
    turn = await ActivityEnvironment().run(
        LLMActivities(_two_calls(), tools).call_llm, _request([])
    )
    assert turn.tool_results == []
    assert seen == []


async def test_an_inline_tool_this_worker_lacks_is_left_to_the_workflow() -> None:
    """An inline tool name the worker has no tool for gets no result (the workflow's own
    activity then reports it unknown), rather than failing the model's turn."""
    tools = ToolRegistry([t for t in [default_registry().get("web_search")] if t is not None])
    turn = await ActivityEnvironment().run(
        LLMActivities(_two_calls(), tools).call_llm, _request(["calculator"])
    )
    assert turn.tool_results == []


async def test_the_runner_hook_sees_each_inline_call_with_its_idempotency_key() -> None:
    """The instrumentation's hook is given every inline call (the pure calculator's, not
    web_search's), with the key a run_tool activity would get, and its result is what the
    turn returns."""
    seen: list[ToolRequest] = []

    async def runner(request: ToolRequest, run: Any) -> ToolResult:
        seen.append(request)
        result: ToolResult = await run()
        return result

    env = ActivityEnvironment()
    activities = LLMActivities(_two_calls(), default_registry())
    token = inline_tool_runner.set(runner)
    try:
        turn = await env.run(activities.call_llm, _request(["calculator", "web_search"]))
    finally:
        inline_tool_runner.reset(token)
    assert [(r.call.id, r.idempotency_key) for r in seen] == [
        ("a", tool_idempotency_key(env.info.workflow_id or "", 3, "a")),
    ]
    assert [(r.call_id, r.content) for r in turn.tool_results] == [("a", "42")]


async def test_a_tool_not_marked_pure_is_never_run_inline() -> None:
    """The input may list any tool in inline_tools; the worker runs inline only tools
    registered as pure, so web_search (an external call in real life) stays an activity."""
    assert default_registry().get("calculator").pure  # type: ignore[union-attr]
    assert not default_registry().get("web_search").pure  # type: ignore[union-attr]
    turn = await ActivityEnvironment().run(
        LLMActivities(_two_calls(), default_registry()).call_llm, _request(["web_search"])
    )
    assert turn.tool_results == []
