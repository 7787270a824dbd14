"""What the Temporal UI (and `temporal workflow list`) shows of agents started with the real
command: the goal as summary, `AgentStatus` kept up to date, the phase as current details,
and the execution's status telling failed and cancelled agents apart from completed ones."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from cli_support import run_cli
from harness import DevServer, StartWorker, write_script
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey

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
