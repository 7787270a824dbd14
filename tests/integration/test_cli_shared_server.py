"""`run` against a shared server (TEMPORAL_ADDRESS set), where other workers poll too: it
answers with the LLM it announced, and an interrupted run says what it left running."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_support import run_cli
from pty_support import TerminalRun
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from agentic_loop.config import DEFAULT_TASK_QUEUE
from agentic_loop.llm import ScriptedLLM
from agentic_loop.worker import build_worker
from support import poll_until


def _address(client: Client) -> str:
    return client.service_client.config.target_host


async def test_run_on_a_shared_server_uses_its_own_queue_not_another_workers(
    client: Client,
) -> None:
    """With another worker (another LLM) polling the default task queue, `run` still gets
    its answer from the LLM it announced, on a task queue of its own that the banner names;
    with AGENTIC_LOOP_TASK_QUEUE set it uses that queue as given."""
    other = ScriptedLLM.from_data({"turns": [{"content": "answered by the other worker"}] * 10})
    async with build_worker(client, task_queue=DEFAULT_TASK_QUEUE, provider=other):
        done = await run_cli("run", "--json", "What is 2 + 3?", TEMPORAL_ADDRESS=_address(client))
        assert done.returncode == 0, done.stderr
        assert "5" in json.loads(done.stdout)["answer"]
        shown = await run_cli("run", "What is 2 + 3?", TEMPORAL_ADDRESS=_address(client))
        assert re.search(
            rf"task queue {DEFAULT_TASK_QUEUE}-\w+ \(this command's own\)", shown.stdout
        )
        told = await run_cli(
            "run", "--json", "--no-worker", "What is 2 + 3?", TEMPORAL_ADDRESS=_address(client)
        )
        assert json.loads(told.stdout)["answer"] == "answered by the other worker", told.stderr


async def test_ctrl_c_during_run_on_a_shared_server_says_it_keeps_running(
    client: Client, tmp_path: Path
) -> None:
    """Ctrl-C while `run` waits on a shared server exits 130 with one line saying the
    workflow keeps running and how to cancel it; that command then cancels it."""
    script = tmp_path / "slow.json"
    script.write_text(json.dumps({"turns": [{"faults": [{"delay": 90}], "content": "late"}]}))
    env = {"TEMPORAL_ADDRESS": _address(client), "AGENTIC_LOOP_LLM": f"scripted:{script}"}
    run = TerminalRun("run", "take your time", **env)
    try:
        await run.wait_for("Workflow: ", stream="out")
        run.type("\x03")
        assert await run.wait(within=30) == 130, run.err
    finally:
        run.close()
    assert "Traceback" not in run.err
    said = re.search(r"interrupted; workflow (agent-\w+) keeps running on the server: "
                     r"`agentic-loop cancel \1` cancels it", run.err)  # fmt: skip
    assert said is not None, run.err
    assert len(run.err.strip().splitlines()) == 1, run.err
    handle = client.get_workflow_handle(said[1])
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    cancelled = await run_cli("cancel", said[1], TEMPORAL_ADDRESS=_address(client))
    assert cancelled.returncode == 0, cancelled.stderr

    # No worker polls the run's own queue any more, so the request waits in its history. When
    # Ctrl-C came while the run's first workflow task was in flight (likelier on a busy
    # machine), the server holds the request back until that task times out (10 s): so it is
    # polled for, not read once.
    async def kinds() -> list[EventType.ValueType]:
        return [e.event_type async for e in handle.fetch_history_events()]

    await poll_until(
        kinds,
        lambda seen: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED in seen,
        within=30,
        what="the cancel request in the run's history",
    )
    await handle.terminate("test over")
