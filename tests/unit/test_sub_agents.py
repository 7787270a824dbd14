"""Sub-agents: agents offered as tools, each run as a child workflow, on the time-skipping
server with scripted models (one script per model: llm/scripted.py ScriptedModels)."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm.scripted import ScriptedModels
from agentic_loop.temporal.plugin import AgentLoopPlugin, data_converter
from agentic_loop.testing import Agents, Script, wait_until
from agentic_loop.tools import default_registry
from agentic_loop.tools.agents import agent_tool
from agentic_loop.types import AgentInput, AgentResult, AgentStatus, LLMTurn, SubAgent, Usage
from agentic_loop.workflow.children import MAX_AGENT_DEPTH

RESEARCH_NOTES = "NOTES-ONLY-THE-RESEARCHER-SAW"

RESEARCHER = SubAgent(
    name="researcher",
    description="Looks things up and reports what it found.",
    system_prompt="You research.",
    tools=["web_search"],
    model="researcher-model",
    max_turns=4,
)
MATHEMATICIAN = SubAgent(
    name="mathematician",
    description="Works out arithmetic.",
    tools=["calculator"],
    model="math-model",
)

PARENT = (
    Script()
    .uses(100, 20)
    .calls("researcher", call_id="r1", task="What is durable execution?")
    .also_calls("mathematician", call_id="m1", task="What is 6 * 7?")
    .expect(role="tool")
    .uses(200, 30)
    .answers("Durable execution survives crashes; 6 * 7 is 42.")
)
RESEARCHER_SCRIPT = (
    Script()
    .uses(10, 5)
    .calls("web_search", query=f"durable execution {RESEARCH_NOTES}")
    .expect(role="tool")
    .uses(40, 8)
    .answers("Durable execution means a workflow survives crashes.")
)
MATH_SCRIPT = (
    Script()
    .uses(7, 3)
    .calls("calculator", expression="6 * 7")
    .expect(role="tool", contains="42")
    .uses(9, 2)
    .answers("42")
)


def models(parent: Script = PARENT, **children: Script) -> ScriptedModels:
    scripts = {"researcher-model": RESEARCHER_SCRIPT, "math-model": MATH_SCRIPT}
    scripts.update({f"{name}-model": script for name, script in children.items()})
    return ScriptedModels(parent.llm(), {m: s.llm() for m, s in scripts.items()})


def history_text(history: WorkflowHistory) -> str:
    """Every payload of the history, as the server stores it."""
    return History(events=history.events).SerializeToString().decode("utf-8", "replace")


def children_started(history: WorkflowHistory) -> list[str]:
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]


async def child_result(client: Client, workflow_id: str) -> AgentResult:
    result: AgentResult = await client.get_workflow_handle(
        workflow_id, result_type=AgentResult
    ).result()
    return result


async def test_two_sub_agents_run_in_parallel_and_their_usage_rolls_up(agents: Agents) -> None:
    """A parent calling two sub-agents in one turn completes with their answers, and its
    usage and tool-call totals include theirs."""
    run = await agents.run(
        models(), AgentInput(goal="Explain and compute", agents=[RESEARCHER, MATHEMATICIAN])
    )
    assert run.result.status == AgentStatus.COMPLETED, run.result.error
    assert run.result.answer == "Durable execution survives crashes; 6 * 7 is 42."
    answers = {m.tool_call_id: m for m in run.transcript if m.role == "tool"}
    assert answers["r1"].content == "Durable execution means a workflow survives crashes."
    assert answers["m1"].content == "42"
    assert not answers["r1"].is_error
    assert not answers["m1"].is_error

    researcher, mathematician = (answers[c].agent_workflow_id for c in ("r1", "m1"))
    assert researcher is not None
    assert mathematician is not None
    assert children_started(run.history) == [researcher, mathematician]
    own = Usage(300, 50, 350)
    theirs = Usage(50, 13, 63) + Usage(16, 5, 21)
    assert run.result.usage == own + theirs
    for child in (researcher, mathematician):
        result = await child_result(agents.client, child)
        assert result.status == AgentStatus.COMPLETED
        assert result.transcript == [], "a sub-agent's result carries its answer only"


async def test_both_children_are_in_flight_at_once(agents: Agents) -> None:
    """The calls of one turn start both children before either ends: they run in parallel."""
    run = await agents.run(
        models(), AgentInput(goal="Explain and compute", agents=[RESEARCHER, MATHEMATICIAN])
    )
    kinds = [EventType.Name(e.event_type) for e in run.history.events]
    started = [i for i, k in enumerate(kinds) if k.endswith("CHILD_WORKFLOW_EXECUTION_STARTED")]
    ended = [i for i, k in enumerate(kinds) if k.endswith("CHILD_WORKFLOW_EXECUTION_COMPLETED")]
    assert len(started) == len(ended) == 2
    assert max(started) < min(ended)


async def test_the_parents_history_holds_the_childrens_answers_only(agents: Agents) -> None:
    """Nothing of a child's own conversation (its tool calls and their results) is recorded
    in the parent's history, only its input and answer, and the history stays small."""
    run = await agents.run(
        models(), AgentInput(goal="Explain and compute", agents=[RESEARCHER, MATHEMATICIAN])
    )
    text = history_text(run.history)
    assert "Durable execution means a workflow survives crashes." in text
    assert RESEARCH_NOTES not in text
    child = await agents.client.get_workflow_handle(
        next(m.agent_workflow_id for m in run.transcript if m.tool_call_id == "r1")
    ).fetch_history()
    assert RESEARCH_NOTES in history_text(child), "the child's history holds its conversation"
    run.assert_history_under(20_000)


async def test_a_failed_sub_agent_is_an_error_result_and_its_usage_still_counts(
    agents: Agents,
) -> None:
    """A child that fails (its provider refuses it with a 401) answers the parent's call with
    an error naming why, which the parent's model handles; what it spent is rolled up."""
    parent = (
        Script()
        .uses(100, 20)
        .calls("researcher", call_id="r1", task="Look it up")
        .expect(role="tool", is_error=True, contains="401")
        .uses(200, 30)
        .answers("The researcher is unavailable.")
    )
    failing = (
        Script()
        .uses(10, 5)
        .calls("calculator", expression="1 + 1")
        .fails(401, message="invalid api key (401)")
        .answers("never")
    )
    run = await agents.run(
        models(parent, researcher=failing), AgentInput(goal="Research", agents=[RESEARCHER])
    )
    assert run.result.status == AgentStatus.COMPLETED, run.result.error
    [answer] = [m for m in run.transcript if m.role == "tool"]
    assert answer.is_error
    assert "ended failed" in answer.content, answer.content
    assert run.result.usage == Usage(300, 50, 350) + Usage(10, 5, 15)


async def test_a_call_without_a_task_is_refused_without_starting_a_child(agents: Agents) -> None:
    """Arguments that give no task are an error result the model can correct; no child runs."""
    parent = (
        Script()
        .calls("researcher", "{not json", call_id="r1")
        .expect(role="tool", is_error=True, contains="task")
        .answers("Sorry.")
    )
    run = await agents.run(models(parent), AgentInput(goal="Research", agents=[RESEARCHER]))
    assert run.result.status == AgentStatus.COMPLETED
    assert children_started(run.history) == []


async def test_sub_agents_of_the_worker_are_marked_by_the_llm_activity(agents: Agents) -> None:
    """A sub-agent registered on the worker (not in the input) is offered to the model and
    run as a child workflow, decided from the turn the LLM activity recorded."""
    registry = default_registry()
    registry.register(agent_tool(MATHEMATICIAN))
    parent = (
        Script()
        .calls("mathematician", call_id="m1", task="What is 6 * 7?")
        .expect(role="tool", contains="42")
        .answers("42.")
    )
    llm = models(parent)
    run = await agents.run(llm, AgentInput(goal="Compute"), tools=registry)
    assert run.result.status == AgentStatus.COMPLETED, run.result.error
    offered = [t["function"]["name"] for t in llm.default.requests[0].tools]
    assert "mathematician" in offered
    assert len(children_started(run.history)) == 1
    first_turn = await llm_turns(run.history)
    assert list(first_turn[0].agent_calls) == ["m1"]


async def test_the_parents_budget_bounds_its_children_and_counts_their_usage(
    agents: Agents,
) -> None:
    """A child is given what is left of the parent's token budget, and once the children's
    usage spends the budget the parent stops without another LLM turn."""
    parent = (
        Script()
        .uses(100, 20)
        .calls("researcher", call_id="r1", task="Look it up")
        .answers("not reached")
    )
    run = await agents.run(
        models(parent),
        AgentInput(goal="Research", agents=[RESEARCHER], max_total_tokens=150),
    )
    assert run.result.status == AgentStatus.MAX_TOKENS
    assert run.result.turns == 1
    assert run.result.usage.total_tokens == 120 + 63
    child = (await child_inputs(run.history))[0]
    assert child.max_total_tokens == 30


async def test_sub_agents_nest_only_so_deep(agents: Agents) -> None:
    """At the deepest level a call of a sub-agent is an error result, so a sub-agent offered
    to itself cannot start children without end."""
    parent = (
        Script()
        .calls("researcher", call_id="r1", task="Look it up")
        .expect(role="tool", is_error=True, contains="levels deep")
        .answers("Done.")
    )
    run = await agents.run(
        models(parent),
        AgentInput(goal="Research", agents=[RESEARCHER], agent_depth=MAX_AGENT_DEPTH),
    )
    assert run.result.status == AgentStatus.COMPLETED
    assert children_started(run.history) == []


async def test_cancelling_the_parent_cancels_its_children(agents: Agents) -> None:
    """While two children wait (for an approval), `status` lists them with their workflow
    ids; cancelling the parent cancels both, and the parent ends cancelled after them."""
    parent = (
        Script()
        .calls("researcher", call_id="r1", task="First")
        .also_calls("researcher", call_id="r2", task="Second")
        .answers("not reached")
    )
    handle = await agents.start(
        models(parent),
        AgentInput(goal="Research", agents=[RESEARCHER], approval_required=["web_search"]),
    )
    progress = await wait_until(
        handle, lambda p: len(p.agents_running) == 2, what="two sub-agents in flight"
    )
    running = {a.call_id: a for a in progress.agents_running}
    assert {a.name for a in running.values()} == {"researcher"}
    for agent in running.values():
        child = agents.client.get_workflow_handle(agent.workflow_id)
        await wait_until(child, lambda p: bool(p.awaiting_approval), what="the child waiting")
    await handle.cancel()
    run = await agents.finish(handle)
    assert run.result.status == AgentStatus.CANCELLED
    for agent in running.values():
        described = await agents.client.get_workflow_handle(agent.workflow_id).describe()
        assert described.status == WorkflowExecutionStatus.CANCELED, agent.workflow_id


async def llm_turns(history: WorkflowHistory) -> list[LLMTurn]:
    """The LLM turns recorded in a history, in order."""
    converter = data_converter()
    turns = []
    scheduled: dict[int, str] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attrs.activity_type.name
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs_c = event.activity_task_completed_event_attributes
            if scheduled.get(attrs_c.scheduled_event_id) == "call_llm":
                [turn] = await converter.decode(list(attrs_c.result.payloads), [LLMTurn])
                turns.append(turn)
    return turns


async def child_inputs(history: WorkflowHistory) -> list[AgentInput]:
    """The inputs the parent started its children with."""
    converter = data_converter()
    inputs = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            payloads = event.start_child_workflow_execution_initiated_event_attributes.input
            [child] = await converter.decode(list(payloads.payloads), [AgentInput])
            inputs.append(child)
    return inputs


def test_the_plugins_sub_agents_join_every_workers_tools() -> None:
    """`AgentLoopPlugin(agents=[...])` gives each worker's LLM activity the sub-agent as a
    tool carrying its definition, beside the tools it was given; a bad one is refused."""
    plugin = AgentLoopPlugin(Settings(), agents=[MATHEMATICIAN], tools=default_registry())
    call_llm = plugin.agent_activities()[0]
    tools = call_llm.__self__.tools  # type: ignore[attr-defined]
    assert tools.names() == ["calculator", "web_search", "mathematician"]
    assert tools.get("mathematician").agent == MATHEMATICIAN
    with pytest.raises(ConfigError, match="'two words' is not a tool name"):
        AgentLoopPlugin(Settings(), agents=[SubAgent(name="two words", description="x")])
