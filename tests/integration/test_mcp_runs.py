"""MCP servers' tools in real runs on the dev server: the toolbox (tests/mcp_servers, written
with the MCP SDK) over stdio, started by the worker, and over streamable HTTP on loopback; the
fake LLM scripted to call them; a worker SIGKILLed in the middle of a call."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from harness import (
    DevServer,
    Process,
    WorkerProcess,
    llm_requests,
    read_lines,
    wait_until,
    write_script,
)
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import CancelledError
from temporalio.worker import Replayer

from agentic_loop.config import Settings
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.testing import Script
from agentic_loop.tools import default_registry
from agentic_loop.tools.mcp.servers import McpServers
from agentic_loop.types import AgentInput, AgentResult, AgentStatus
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from mcp_servers.support import HttpToolbox, journal, stdio_server, write_config

MCP_WORKER_SCRIPT = Path(__file__).resolve().parent / "mcp_worker_process.py"
RESULT_DEADLINE = 120.0
# Short, so the attempt of a killed worker is retried on the next one within seconds.
TOOL_TIMEOUT = 8.0


@pytest_asyncio.fixture(loop_scope="session")
async def http_toolbox(workdir: Path) -> AsyncIterator[HttpToolbox]:
    server = HttpToolbox(workdir / "http.jsonl")
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def _reaped(*journals: Path) -> Iterator[None]:
    """Kill, at the end, every toolbox process the journals name: a stdio server of a killed
    worker lives on (the SDK starts it in a session of its own) until its stdin's EOF."""
    try:
        yield
    finally:
        for pid in {r["pid"] for path in journals for r in read_lines(path)}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


async def _replays(history: WorkflowHistory) -> None:
    """The history replays on this code, with the workers' plugin (and no MCP server)."""
    replayer = Replayer(workflows=[], plugins=[AgentLoopPlugin(Settings())])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_a_run_uses_a_stdio_and_an_http_mcp_tool_and_its_history_replays(
    dev_server: DevServer, workdir: Path, task_queue: str, http_toolbox: HttpToolbox
) -> None:
    """The model calls a stdio server's tool and an HTTP server's in one turn, then one that
    refuses (the model reads the error) and one whose server crashes mid-call (the retry
    restarts it): the run completes, each call reached its server with its idempotency key,
    and the history replays."""
    stdio_journal = workdir / "stdio.jsonl"
    config = write_config(
        workdir / "mcp.json", {"box": stdio_server(stdio_journal), "web": http_toolbox.entry()}
    )
    plugin = AgentLoopPlugin(Settings(), mcp=McpServers.from_file(config))
    client = await Client.connect(dev_server.address, plugins=[plugin])
    script = (
        Script()
        .calls("box__add", a=2, b=3, call_id="local")
        .also_calls("web__add", a=4, b=5, call_id="remote")
        .expect(role="tool", contains="4 + 5 = 9")
        .calls("box__refuse", reason="not today", call_id="no")
        .expect(role="tool", contains="refused: not today", is_error=True)
        .calls("box__crash_once", call_id="crash")
        .expect(role="tool", contains="survived the crash")
        .answers("2 + 3 = 5 and 4 + 5 = 9.")
    )
    worker = build_worker(
        client, task_queue=task_queue, provider=script.llm(), tools=default_registry()
    )
    workflow_id = f"mcp-{uuid.uuid4()}"
    with _reaped(stdio_journal):
        try:
            async with worker:
                handle = await client.start_workflow(
                    AgentWorkflow.run,
                    AgentInput(goal="add with both servers", tool_timeout_seconds=TOOL_TIMEOUT),
                    id=workflow_id,
                    task_queue=task_queue,
                )
                result: AgentResult = await asyncio.wait_for(handle.result(), RESULT_DEADLINE)
        finally:
            await plugin.aclose()
    assert result.status == AgentStatus.COMPLETED, result.error
    assert result.answer == "2 + 3 = 5 and 4 + 5 = 9."
    assert [r["key"] for r in journal(stdio_journal, "add")] == [f"{workflow_id}/1/local"]
    assert [r["key"] for r in journal(http_toolbox.journal, "add")] == [f"{workflow_id}/1/remote"]
    assert [r["key"] for r in journal(stdio_journal, "refuse")] == [f"{workflow_id}/2/no"]
    crashed = journal(stdio_journal, "crash") + journal(stdio_journal, "survived")
    assert [r["key"] for r in crashed] == [f"{workflow_id}/3/crash"] * 2
    assert crashed[0]["pid"] != crashed[1]["pid"]
    await _replays(await handle.fetch_history())


async def test_cancelling_a_run_cancels_its_slow_mcp_call_on_the_server(
    dev_server: DevServer, workdir: Path, task_queue: str, http_toolbox: HttpToolbox
) -> None:
    """A run cancelled while an HTTP server's tool is slow ends cancelled, and the server's
    tool is told to stop (it never finishes)."""
    plugin = AgentLoopPlugin(
        Settings(),
        mcp=McpServers.from_file(write_config(workdir / "mcp.json", {"web": http_toolbox.entry()})),
    )
    client = await Client.connect(dev_server.address, plugins=[plugin])
    script = Script().calls("web__slow", seconds=60).answers("never")
    worker = build_worker(
        client, task_queue=task_queue, provider=script.llm(), tools=default_registry()
    )
    try:
        async with worker:
            handle = await client.start_workflow(
                AgentWorkflow.run,
                AgentInput(goal="be slow", tool_timeout_seconds=120),
                id=f"mcp-slow-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            await wait_until(
                lambda: bool(journal(http_toolbox.journal, "slow")), within=60, what="the call"
            )
            await handle.cancel()
            # The execution ends cancelled, as the operator asked.
            with pytest.raises(WorkflowFailureError) as ended:
                await asyncio.wait_for(handle.result(), RESULT_DEADLINE)
            await wait_until(
                lambda: bool(journal(http_toolbox.journal, "slow cancelled")),
                within=30,
                what="the server to cancel the call",
            )
    finally:
        await plugin.aclose()
    assert isinstance(ended.value.cause, CancelledError)
    assert not journal(http_toolbox.journal, "slow done")


class McpWorkerProcess(WorkerProcess):
    """worker_process.py's kind of worker, with the MCP servers of a file."""

    def __init__(self, address: str, task_queue: str, workdir: Path, mcp: Path, name: str):
        self.workdir = workdir
        Process.__init__(
            self,
            [
                sys.executable, str(MCP_WORKER_SCRIPT), "--address", address,
                "--task-queue", task_queue, "--workdir", str(workdir), "--mcp", str(mcp),
            ],
            workdir / f"{name}.log",
        )  # fmt: skip


RECORD_SCRIPT: dict[str, Any] = (
    Script()
    .calls("box__record", entry="order 7", hold=5, call_id="rec")
    .expect(role="tool", contains="recorded order 7")
    .answers("Order 7 is recorded.")
    .to_data()
)


async def test_a_worker_killed_mid_mcp_call_resumes_with_the_same_idempotency_key(
    client: Client, dev_server: DevServer, workdir: Path, task_queue: str
) -> None:
    """SIGKILL while a stdio server's tool holds, then a new worker process: the call runs
    again on the new worker's own server, both attempts carrying the same idempotency key in
    _meta; the run completes (its next turn shown the recorded tools, which the new worker
    had to ask the workflow for) and its history replays."""
    box_journal = workdir / "box.jsonl"
    config = write_config(workdir / "mcp.json", {"box": stdio_server(box_journal)})
    write_script(workdir, "record", RECORD_SCRIPT)
    workers: list[McpWorkerProcess] = []

    async def start(name: str) -> McpWorkerProcess:
        worker = McpWorkerProcess(dev_server.address, task_queue, workdir, config, name)
        workers.append(worker)
        worker.start()
        await worker.wait_ready()
        return worker

    workflow_id = f"mcp-crash-{uuid.uuid4()}"
    key = f"{workflow_id}/1/rec"
    with _reaped(box_journal):
        try:
            first = await start("worker-1")
            handle = await client.start_workflow(
                AgentWorkflow.run,
                AgentInput(goal="record: order 7", tool_timeout_seconds=TOOL_TIMEOUT),
                id=workflow_id,
                task_queue=task_queue,
            )
            await wait_until(
                lambda: bool(journal(box_journal, "record")), within=60, what="the call"
            )
            first.kill()
            assert not journal(box_journal, "recorded"), "the kill came too late"
            second = await start("worker-2")
            result: AgentResult = await asyncio.wait_for(handle.result(), RESULT_DEADLINE)
        finally:
            for worker in workers:
                worker.kill()
    assert result.status == AgentStatus.COMPLETED, result.error
    assert result.answer == "Order 7 is recorded."
    attempts = journal(box_journal, "record")
    assert [r["key"] for r in attempts] == [key, key]
    assert attempts[0]["pid"] != attempts[1]["pid"]
    answered = llm_requests(workdir, workflow_id, event="answered")
    assert [r["pid"] for r in answered] == [first.pid, second.pid]
    await _replays(await handle.fetch_history())
