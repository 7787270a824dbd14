"""A run's tool catalog: tools from outside the program (an MCP server's) are recorded once per
run, by the first LLM turn, and every later turn shows the model that copy, whatever the
worker lists by then; a run without such tools records nothing new. On the time-skipping
test server, with hand-built external tools (the MCP sessions are tests/unit/test_mcp.py's)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from agentic_loop.activities import LLMActivities
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.temporal.plugin import plugin_of
from agentic_loop.testing import Script
from agentic_loop.tools import Tool, ToolContext, ToolRegistry, default_registry
from agentic_loop.transcript.keys import catalog_key
from agentic_loop.types import AgentInput, AgentStatus, LLMRequest, LLMTurn, ToolSpec
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.state import ConversationState


def _echo(description: str, schema: dict[str, Any]) -> Tool:
    async def run(args: dict[str, Any], context: ToolContext) -> str:
        return f"echo: {args.get('text')}"

    return Tool("srv__echo", description, schema, run, source="MCP server srv", external=True)


V1 = _echo("Echo, version 1.", {"type": "object", "properties": {"text": {"type": "string"}}})
V2 = _echo("Echo, version 2.", {"type": "object", "properties": {"words": {"type": "array"}}})


class ChangingServer:
    """The scripted model, and a server whose tool changes (to V2) while the first LLM turn
    runs; optionally the worker also forgets its cached catalogs then (as a restart would)."""

    def __init__(self, script: Script, registry: ToolRegistry) -> None:
        self.inner: ScriptedLLM = script.llm()
        self.registry = registry
        self.activities: LLMActivities | None = None
        self.forget = False

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def default_model(self) -> str:
        return self.inner.default_model

    @property
    def requests(self) -> list[CompletionRequest]:
        return self.inner.requests

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        if len(self.inner.requests) == 0:
            self.registry._tools["srv__echo"] = V2  # the server now lists another version
            if self.forget and self.activities is not None:
                self.activities.catalogs = type(self.activities.catalogs)()
        return await self.inner.complete(request)


SCRIPT = (
    Script()
    .calls("srv__echo", text="one")
    .expect(role="tool", contains="echo: one")
    .calls("srv__echo", text="two")
    .expect(role="tool", contains="echo: two")
    .answers("done")
)


def _offered(request: CompletionRequest) -> dict[str, str]:
    return {t["function"]["name"]: t["function"]["description"] for t in request.tools}


async def _llm_payloads(client: Client, history: WorkflowHistory) -> list[tuple[Any, Any]]:
    """(LLMRequest, LLMTurn) of each call_llm, decoded from the history."""
    converter = client.data_converter
    scheduled: dict[int, Any] = {}
    pairs = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "call_llm":
                [request] = await converter.decode(attrs.input.payloads, [LLMRequest])
                scheduled[event.event_id] = request
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            if attrs.scheduled_event_id in scheduled:
                [turn] = await converter.decode(attrs.result.payloads, [LLMTurn])
                pairs.append((scheduled[attrs.scheduled_event_id], turn))
    return pairs


async def _run(
    env: WorkflowEnvironment, provider: ChangingServer, registry: ToolRegistry
) -> tuple[Any, WorkflowHistory]:
    task_queue = f"catalog-{uuid.uuid4()}"
    activities = plugin_of(env.client).agent_activities(provider=provider, tools=registry)
    provider.activities = next(a.__self__ for a in activities if a.__name__ == "call_llm")  # type: ignore[attr-defined]
    async with Worker(env.client, task_queue=task_queue, activities=activities):
        handle = await env.client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="echo twice"),
            id=f"catalog-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
        return result, await handle.fetch_history()


async def test_the_first_turn_records_the_catalog_and_later_turns_show_that_copy(
    agent_env: WorkflowEnvironment,
) -> None:
    """The server's tool changes during the first turn, yet every turn of the run offers the
    version the first turn recorded; the catalog is in history once (the first turn's result),
    and each later request names it by key alone."""
    registry = ToolRegistry([*default_registry(), V1])
    provider = ChangingServer(SCRIPT, registry)
    result, history = await _run(agent_env, provider, registry)
    assert result.status == AgentStatus.COMPLETED
    assert [_offered(r)["srv__echo"] for r in provider.requests] == ["Echo, version 1."] * 3
    recorded = [ToolSpec("srv__echo", V1.description, V1.parameters, V1.source)]
    pairs = await _llm_payloads(agent_env.client, history)
    assert [(req.catalog_key, turn.tool_catalog) for req, turn in pairs] == [
        (None, recorded),
        (catalog_key(recorded), []),
        (catalog_key(recorded), []),
    ]


async def test_a_worker_without_the_cached_catalog_asks_the_workflow(
    agent_env: WorkflowEnvironment,
) -> None:
    """After its cache lost the catalog (a restart, another worker), the LLM activity gets the
    recorded copy from the workflow's `tool_catalog` query: still version 1, never the live one."""
    registry = ToolRegistry([*default_registry(), V1])
    provider = ChangingServer(SCRIPT, registry)
    provider.forget = True
    result, _ = await _run(agent_env, provider, registry)
    assert result.status == AgentStatus.COMPLETED
    assert [_offered(r)["srv__echo"] for r in provider.requests] == ["Echo, version 1."] * 3
    assert provider.activities is not None
    assert provider.activities.catalogs.misses == 1


async def test_a_run_without_external_tools_records_no_catalog(
    agent_env: WorkflowEnvironment,
) -> None:
    """With only the program's own tools, no request names a catalog and no turn carries one:
    such a run records what it did before MCP tools existed, defaults aside."""
    registry = default_registry()
    script = Script().calls("calculator", expression="2 + 2").answers("4")
    provider = ChangingServer(script, registry)
    provider.registry = ToolRegistry()  # nothing to change
    result, history = await _run(agent_env, provider, registry)
    assert result.status == AgentStatus.COMPLETED
    pairs = await _llm_payloads(agent_env.client, history)
    assert len(pairs) == 2
    assert all(req.catalog_key is None and turn.tool_catalog == [] for req, turn in pairs)
    assert [t["function"]["name"] for t in provider.requests[0].tools] == registry.names()


def test_the_catalog_crosses_continue_as_new() -> None:
    """The next run's state holds the catalog and its key, so its requests still name it."""
    specs = [ToolSpec("srv__echo", "Echo.", {"type": "object"}, "MCP server srv")]
    state = ConversationState.start("conv", "system", "goal")
    state.adopt_catalog(specs)
    state.adopt_catalog([dataclasses.replace(specs[0], description="Another.")])
    resumed = ConversationState.resume(state.carry("run-1"))
    assert (resumed.tool_catalog, resumed.catalog_key) == (specs, catalog_key(specs))
