"""The `agentic-loop` command as a person runs it: a real process, the real dev server."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from cli_support import CLI, cli_env
from cli_support import run_cli as _cli
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agentic_loop.config import Settings
from agentic_loop.llm.rule_based import RuleBasedLLM
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.worker import build_worker
from production_support import dev_server

SEED_GOAL = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_run_with_no_goal_answers_the_seed_example_in_korean() -> None:
    """`agentic-loop run` with no arguments and no server reaches the seed goal: Korean, 8."""
    done = await _cli("run")
    assert done.returncode == 0, done.stderr
    assert SEED_GOAL in done.stdout
    assert "LLM: fake (model rule-based)" in done.stdout
    assert "[turn 1] LLM calls calculator" in done.stdout
    answer = done.stdout.split("Answer:", 1)[1]
    assert "8" in answer
    assert "입니다" in answer


async def test_run_json_prints_one_completed_result() -> None:
    """`run --json` prints only the AgentResult as one JSON object with the answer 126."""
    done = await _cli("run", "--json", "What is (17 + 25) * 3?")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert "126" in result["answer"]
    assert {"answer", "status", "workflow_id", "turns", "tool_calls"} <= set(result)
    assert (result["turns"], result["tool_calls"]) == (2, 1)


async def test_max_turns_option_is_applied() -> None:
    """`--max-turns 1` stops a two-turn goal after one turn with status max_turns, exit 1."""
    done = await _cli("run", "--json", "--max-turns", "1", "What is 2 + 2?")
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "max_turns"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "   "], "the goal is empty"),
        (["run", "x" * 40_000], "the limit is"),
        (["run", "--max-turns", "0", "hi"], "--max-turns must be at least 1"),
    ],
)
async def test_bad_input_is_one_line_and_a_non_zero_exit(args: list[str], message: str) -> None:
    """An empty or oversized goal, or a bad limit, is a one-line error, exit 2, no traceback."""
    done = await _cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


async def test_an_unreachable_server_is_named_within_seconds() -> None:
    """With TEMPORAL_ADDRESS pointing at nothing, the command fails naming it, not hanging."""
    address = f"127.0.0.1:{_free_port()}"
    done = await _cli("start", "hello", deadline=30, TEMPORAL_ADDRESS=address)
    assert done.returncode == 2
    assert address in done.stderr
    assert "Traceback" not in done.stderr


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """One embedded dev server for this module's tests that need a running server."""
    async with dev_server() as env:
        yield env


async def test_start_then_result_against_a_running_server(dev_env: WorkflowEnvironment) -> None:
    """`start` returns a workflow id at once; `result` waits for it and prints the answer."""
    address = dev_env.client.service_client.config.target_host
    queue = f"cli-{uuid.uuid4()}"
    env: dict[str, Any] = {"TEMPORAL_ADDRESS": address, "AGENTIC_LOOP_TASK_QUEUE": queue}
    started = await _cli("start", "--json", "What is 6 * 7?", **env)
    assert started.returncode == 0, started.stderr
    workflow_id = json.loads(started.stdout)["workflow_id"]
    worker = build_worker(dev_env.client, task_queue=queue, provider=RuleBasedLLM())
    async with worker:
        done = await _cli("result", "--json", workflow_id, **env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["workflow_id"] == workflow_id
    assert "42" in result["answer"]


@pytest.mark.parametrize(
    ("flags", "markers"), [([], 0), (["--tools-as-activities"], 1)], ids=["default", "flag"]
)
async def test_tools_as_activities_runs_the_calculator_as_its_own_activity(
    dev_env: WorkflowEnvironment, flags: list[str], markers: int
) -> None:
    """By default `start` leaves the calculator inline in the LLM activity (no marker);
    `--tools-as-activities` makes it a local activity of its own (one marker), same answer."""
    address = dev_env.client.service_client.config.target_host
    queue = f"cli-{uuid.uuid4()}"
    env: dict[str, Any] = {"TEMPORAL_ADDRESS": address, "AGENTIC_LOOP_TASK_QUEUE": queue}
    started = await _cli("start", "--json", *flags, "What is 6 * 7?", **env)
    assert started.returncode == 0, started.stderr
    handle = dev_env.client.get_workflow_handle(json.loads(started.stdout)["workflow_id"])
    async with build_worker(dev_env.client, task_queue=queue, provider=RuleBasedLLM()):
        result = await handle.result()
    assert "42" in result["answer"]
    history = await handle.fetch_history()
    assert sum(e.HasField("marker_recorded_event_attributes") for e in history.events) == markers


async def test_result_of_an_unknown_workflow_is_a_clear_error(
    dev_env: WorkflowEnvironment,
) -> None:
    """`result` for an id the server does not know names the id, exit 2, no traceback."""
    address = dev_env.client.service_client.config.target_host
    done = await _cli("result", "no-such-workflow", TEMPORAL_ADDRESS=address)
    assert done.returncode == 2
    assert "no-such-workflow" in done.stderr
    assert "Traceback" not in done.stderr


async def test_server_command_prints_the_ui_and_stops_cleanly_on_sigterm(tmp_path: Any) -> None:
    """`agentic-loop server` serves on the given port with its history file, prints the UI's
    URL, and exits 0 when told to stop."""
    port, ui_port = _free_port(), _free_port()
    db = tmp_path / "history.db"
    process = await asyncio.create_subprocess_exec(
        *CLI, "server", "--port", str(port), "--ui-port", str(ui_port), "--db-filename", str(db),
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            while True:
                try:
                    client = await Client.connect(
                        f"127.0.0.1:{port}", plugins=[AgentLoopPlugin(Settings())]
                    )
                    break
                except RuntimeError:
                    await asyncio.sleep(0.2)
        await client.count_workflows()
        process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert f"http://localhost:{ui_port}" in out.decode()
    assert db.exists()
