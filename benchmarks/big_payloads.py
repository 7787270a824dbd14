"""The big-payload section: a 10 MB tool result and a 1 MB model reply, end to end on a dev
server with the embedded default store (a directory), as `agentic-loop run` keeps them.

Temporal refuses a payload over 2 MB; without a store the run fails on the tool result. With
it, the payload is written to the store and history holds a reference, so what this section
shows is that the run completes, what history weighs (references, not content), what went
to the store, what the model was shown of the result (cut to `tool_result_limit_bytes`),
and that the transcript read back holds every byte.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client

from agentic_loop.config import Settings
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.temporal.dev_server import start_dev_server
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.tools import ToolRegistry, tool
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import AgentInput, AgentStatus, LLMTurn, ToolCall
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from benchmarks.report import Figure, Target, check, emit

SECTION = "big payloads"
TOOL_RESULT_BYTES = 10 * 1024 * 1024
REPLY_BYTES = 1024 * 1024
# What history may weigh with both payloads outside it: references and the rest of a
# two-turn run, far under Temporal's 2 MB a payload and 50 MB a history.
HISTORY_TARGET_BYTES = 256 * 1024


def _result_text() -> str:
    """10 MB of numbered lines, so a cut or a lost byte shows."""
    lines = (f"line {i:08d}\n" for i in range(TOOL_RESULT_BYTES // 14 + 1))
    return "".join(lines)[:TOOL_RESULT_BYTES]


RESULT = _result_text()


@tool(name="export_table")
def export_table() -> str:
    """Exports the whole table as text (10 MB)."""
    return RESULT


class _BigModel:
    """Calls the exporter, then answers with 1 MB; keeps the largest request it was shown."""

    name = "big"
    default_model = "big-1"

    def __init__(self) -> None:
        self.largest_shown = 0

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        shown = sum(len(m.content.encode()) for m in request.messages)
        self.largest_shown = max(self.largest_shown, shown)
        if not any(m.role == "tool" for m in request.messages):
            call = ToolCall(id="export", name="export_table", arguments="{}")
            return LLMTurn(tool_calls=[call], finish_reason="tool_calls")
        return LLMTurn(content="R" * REPLY_BYTES)


def _directory_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


async def measure() -> list[Figure]:
    """One run of the two big payloads; its figures (one JSON line each)."""
    with tempfile.TemporaryDirectory(prefix="bench-payloads-") as store:
        plugin = AgentLoopPlugin(Settings())
        plugin.keep_payloads_in(Path(store))
        env = await start_dev_server(plugin=plugin)
        try:
            return await _run(env.client, Path(store))
        finally:
            await env.shutdown()


async def _run(client: Client, store: Path) -> list[Figure]:
    model = _BigModel()
    task_queue = f"bench-big-{uuid.uuid4()}"
    worker = build_worker(
        client, task_queue=task_queue, provider=model, tools=ToolRegistry([export_table])
    )
    async with worker:
        began = time.perf_counter()
        handle = await client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="export the table", tools=["export_table"]),
            id=f"bench-big-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
        wall = time.perf_counter() - began
        history = await handle.fetch_history()
        began = time.perf_counter()
        transcript = await read_transcript(client, handle.id)
        read_seconds = time.perf_counter() - began
    tool_text = next((m.content for m in transcript if m.role == "tool"), "")
    reply = next((m.content for m in reversed(transcript) if m.role == "assistant"), "")
    intact = tool_text == RESULT and reply == "R" * REPLY_BYTES
    history_bytes = len(history.to_json().encode())
    extra = {
        "completed": result.status == AgentStatus.COMPLETED,
        "status": str(result.status),
        "transcript_intact": intact,
        "transcript_read_seconds": round(read_seconds, 3),
        "history_events": len(history.events),
        "store_bytes": _directory_bytes(store),
        "largest_request_shown_bytes": model.largest_shown,
        "tool_result_bytes": TOOL_RESULT_BYTES,
        "reply_bytes": REPLY_BYTES,
    }
    figures = [
        Figure(SECTION, "10 MB tool result + 1 MB reply: wall", "s", wall, extra=extra),
        Figure(SECTION, "history bytes (JSON)", "bytes", float(history_bytes)),
        Figure(SECTION, "payload store bytes", "bytes", float(extra["store_bytes"])),
        Figure(SECTION, "largest request the model was shown", "bytes", float(model.largest_shown)),
    ]
    for figure in figures:
        emit(figure.json_line())
    return figures


def targets(figures: list[Figure]) -> list[Target]:
    """Completed with the transcript intact; history under HISTORY_TARGET_BYTES."""
    run = next((f for f in figures if f.section == SECTION and f.unit == "s"), None)
    history = next((f for f in figures if f.name == "history bytes (JSON)"), None)
    if run is None:
        wanted = "completed, transcript intact"
        return [Target("10 MB tool result and 1 MB reply complete", "SKIP", "not run", wanted)]
    done = bool(run.extra.get("completed")) and bool(run.extra.get("transcript_intact"))
    return [
        Target(
            "10 MB tool result and 1 MB reply complete",
            "PASS" if done else "FAIL",
            f"{run.extra.get('status')} in {run.ours:.1f} s, transcript "
            + ("intact" if run.extra.get("transcript_intact") else "NOT intact"),
            "completed, transcript intact",
        ),
        check(
            "history bytes with both payloads stored outside",
            history.ours if history else None,
            at_most=HISTORY_TARGET_BYTES,
            shown="{:.0f}",
        ),
    ]
