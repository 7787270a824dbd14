"""The Temporal server stopped and started again in the middle of a conversation."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from harness import (
    WORKER_JOURNAL,
    StartServer,
    StartWorker,
    connect,
    llm_requests,
    read_lines,
    tool_runs,
    wait_until,
    write_script,
)

from agentic_loop.types import AgentInput, AgentStatus
from agentic_loop.workflow import AgentWorkflow

# Bounds, not measurements: the worker must be back at work well within them.
RECONNECT_DEADLINE = 120.0
ANSWER = "The server went away and came back; 2 + 3 = 5 and 5 * 8 = 40."

SCRIPT: dict[str, Any] = {
    "turns": [
        {"tool_calls": [{"id": "add", "name": "calculator", "arguments": {"expression": "2 + 3"}}]},
        {
            "expect": {"role": "tool", "contains": "5"},
            "tool_calls": [
                {
                    "id": "outage",
                    "name": "slow_step",
                    "arguments": {"label": "outage", "seconds": 3},
                }
            ],
        },
        {
            "expect": {"role": "tool", "contains": "outage: done"},
            "tool_calls": [
                {"id": "multiply", "name": "calculator", "arguments": {"expression": "5 * 8"}}
            ],
        },
        {"expect": {"role": "tool", "contains": "40"}, "content": ANSWER},
    ]
}


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"]
)
async def test_a_conversation_survives_a_server_restart_and_the_same_worker_reconnects(
    stop_signal: signal.Signals,
    start_server: StartServer,
    start_worker: StartWorker,
    workdir: Path,
    task_queue: str,
) -> None:
    """The dev server is stopped while a tool runs and started again on the same SQLite file:
    the conversation completes with its answer, served throughout by the one worker process,
    which reconnected by itself, and no LLM turn was requested twice."""
    server = await start_server()
    write_script(workdir, "restart", SCRIPT)
    worker = await start_worker(server.address, task_queue)
    client = await connect(server.address)
    workflow_id = f"restart-{uuid.uuid4()}"
    handle = await client.start_workflow(
        AgentWorkflow.run,
        AgentInput(goal="restart: survive the server", tool_timeout_seconds=8),
        id=workflow_id,
        task_queue=task_queue,
    )
    outage_step = f"{workflow_id}/2/outage"
    await wait_until(
        lambda: any(r["event"] == "start" for r in tool_runs(workdir, outage_step)),
        within=60,
        what="the tool that runs across the restart",
    )
    stopped_at = time.monotonic()
    server.stop(stop_signal)
    assert not server.running()
    # The server stays down until the tool has finished, so the worker reports the tool's
    # result, and polls for the next task, to a server that is not there.
    await wait_until(
        lambda: any(r["event"] == "done" for r in tool_runs(workdir, outage_step)),
        within=60,
        what="the tool to finish while the server is down",
    )
    server.start()
    ready = await server.wait_ready()
    print(
        f"\n{stop_signal.name}: server down for {time.monotonic() - stopped_at:.1f} s "
        f"(ready {ready:.1f} s after start)"
    )

    back_at = time.monotonic()
    result = await asyncio.wait_for(handle.result(), RECONNECT_DEADLINE)
    print(f"{stop_signal.name}: conversation done {time.monotonic() - back_at:.1f} s after restart")
    assert result.status == AgentStatus.COMPLETED
    assert result.answer == ANSWER
    assert worker.running()
    assert [r["pid"] for r in read_lines(workdir / WORKER_JOURNAL)] == [worker.pid]
    requests = llm_requests(workdir, workflow_id)
    assert {r["pid"] for r in requests} == {worker.pid}
    assert Counter(r["turn"] for r in requests) == dict.fromkeys(range(1, 5), 1)
    # At least once: the result reported while the server was down may be lost, and then the
    # tool runs again when its attempt times out.
    runs = Counter(r["key"] for r in tool_runs(workdir, workflow_id) if r["event"] == "start")
    print(f"{stop_signal.name}: the tool across the restart ran {runs[outage_step]} time(s)")
    assert runs[f"{workflow_id}/1/add"] == runs[f"{workflow_id}/3/multiply"] == 1
