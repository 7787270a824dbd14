"""What the Temporal UI (and `temporal workflow list`) shows of agents started with the real
command: the goal as summary, `AgentStatus` kept up to date, the phase as current details,
and the execution's status telling failed and cancelled agents apart from completed ones."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from cli_support import run_cli
from harness import DevServer, StartWorker, write_script
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from agentic_loop.llm import ScriptedLLM
from agentic_loop.outcome import agent_result
from agentic_loop.temporal.start_options import agent_start_options
from agentic_loop.types import AgentInput, AgentProgress, Reply, UserMessage
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from support import poll_until

AGENT_STATUS = SearchAttributeKey.for_keyword("AgentStatus")


def _scripts(workdir: Path) -> None:
    write_script(workdir, "done", {"turns": [{"content": "All done."}]})
    write_script(
        workdir,
        "broken",
        {"turns": [{"faults": [{"status": 401, "times": 1, "message": "bad key"}]}]},
    )
    write_script(
        workdir,
        "asks",
        {
            "turns": [
                {"tool_calls": [{"id": "s1", "name": "web_search", "arguments": {"query": "x"}}]},
                {"content": "never reached"},
            ]
        },
    )


async def _start(dev_server: DevServer, task_queue: str, goal: str, *options: str) -> str:
    workflow_id = f"ui-{uuid.uuid4().hex[:10]}"
    started = await run_cli(
        "start", "--id", workflow_id, *options, goal,
        TEMPORAL_ADDRESS=dev_server.address, AGENTIC_LOOP_TASK_QUEUE=task_queue,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    return workflow_id


async def _listed(client: Client, query: str) -> set[str]:
    return {w.id async for w in client.list_workflows(query)}


async def test_the_ui_tells_completed_failed_and_cancelled_agents_apart(
    dev_server: DevServer, client: Client, start_worker: StartWorker, workdir: Path, task_queue: str
) -> None:
    """Agents started by `agentic-loop start` carry their goal as summary and AgentStatus;
    a completed one completes, a failed one fails its execution (and `result` still prints
    its one-line error, exit 1), a cancelled one ends cancelled; `AgentStatus = "failed"`
    finds exactly the failed one."""
    _scripts(workdir)
    await start_worker(dev_server.address, task_queue)
    done = await _start(dev_server, task_queue, "done: say you are done")
    broken = await _start(dev_server, task_queue, "broken: this one fails")
    asks = await _start(
        dev_server, task_queue, "asks: search for x", "--approve-tool", "web_search"
    )

    env = {"TEMPORAL_ADDRESS": dev_server.address}
    finished = await run_cli("result", done, **env)
    assert finished.returncode == 0, finished.stderr
    failed = await run_cli("result", "--json", broken, **env)
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["status"] == "failed"
    assert "bad key" in json.loads(failed.stdout)["error"]

    async def details() -> str:
        return await _current_details(client, asks)

    await poll_until(
        details, lambda d: d.startswith("waiting for approval, LLM turn 1 of"), within=30,
        what="the approval wait as current details",
    )  # fmt: skip
    cancelled = await run_cli("cancel", asks, **env)
    assert cancelled.returncode == 0, cancelled.stderr
    outcome = await run_cli("result", "--json", asks, **env)
    assert json.loads(outcome.stdout)["status"] == "cancelled", outcome.stderr

    statuses = {}
    for workflow_id in (done, broken, asks):
        description = await client.get_workflow_handle(workflow_id).describe()
        statuses[workflow_id] = (
            description.status,
            description.typed_search_attributes.get(AGENT_STATUS),
        )
    assert statuses == {
        done: (WorkflowExecutionStatus.COMPLETED, "completed"),
        broken: (WorkflowExecutionStatus.FAILED, "failed"),
        asks: (WorkflowExecutionStatus.CANCELED, "cancelled"),
    }
    summary = await (await client.get_workflow_handle(done).describe()).static_summary()
    assert summary == "done: say you are done"

    # Visibility is eventually consistent: poll until the three are indexed.
    mine = f'WorkflowId IN ("{done}", "{broken}", "{asks}")'

    async def indexed() -> bool:
        return await _listed(client, f'{mine} AND ExecutionStatus != "Running"') == {
            done,
            broken,
            asks,
        }

    await poll_until(indexed, within=30, what="the three agents in the visibility store")
    assert await _listed(client, f'{mine} AND AgentStatus = "failed"') == {broken}
    assert await _listed(client, f'{mine} AND AgentStatus = "cancelled"') == {asks}


async def _current_details(client: Client, workflow_id: str) -> str:
    """The current details the workflow set: what the UI shows, from the SDK's built-in
    metadata query."""
    metadata = await client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return metadata.current_details


async def test_agent_status_is_carried_across_continue_as_new(client: Client) -> None:
    """A conversation that continued as new keeps AgentStatus in its new runs (the server
    copies it), and its last run ends with the conversation's status."""
    queue = f"ui-can-{uuid.uuid4().hex[:8]}"
    llm = ScriptedLLM.from_data({"turns": [{"content": f"answer {i}"} for i in range(4)]})
    async with build_worker(client, task_queue=queue, provider=llm):
        value = AgentInput(goal="first", chat=True, continue_as_new_after_events=8)
        handle = await client.start_workflow(
            AgentWorkflow.run,
            value,
            id=f"ui-can-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            **await agent_start_options(client, client.namespace, value.goal),
        )
        # By id alone, so each call reaches the conversation's newest run.
        latest_run = client.get_workflow_handle(handle.id)
        for turns, text in enumerate(("second", "third"), start=1):
            await _idle_after(latest_run, turns)  # continue-as-new waits for an idle turn
            message = UserMessage(text, wait_for_answer=False)
            await latest_run.execute_update("send_message", message, result_type=Reply)
        await _idle_after(latest_run, 3)
        await latest_run.signal(AgentWorkflow.end)
        result = await agent_result(latest_run)
    assert result.status.value == "ended"
    latest = await client.get_workflow_handle(handle.id).describe()
    assert latest.run_id != handle.first_execution_run_id  # it did continue as new
    assert latest.typed_search_attributes.get(AGENT_STATUS) == "ended"
    first = await client.get_workflow_handle(
        handle.id, run_id=handle.first_execution_run_id
    ).describe()
    assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert first.typed_search_attributes.get(AGENT_STATUS) == "running"


async def _idle_after(handle: WorkflowHandle[Any, Any], turns: int) -> None:
    async def status() -> AgentProgress:
        progress: AgentProgress = await handle.query(AgentWorkflow.status)
        return progress

    await poll_until(
        status,
        lambda p: p.phase == "waiting for the user" and p.turns == turns,
        within=30,
        retry_on=(RPCError, WorkflowQueryFailedError),
        what=f"the conversation idle after {turns} turns",
    )
