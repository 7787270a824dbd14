"""Fixtures: a notes database of each test's own, and agents on a time-skipping server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from agentic_loop import (
    AgentInput,
    AgentLoopPlugin,
    AgentWorkflow,
    ScriptedLLM,
    Settings,
    start_time_skipping,
)
from temporalio.worker import Worker

from notes_agent.tools import TOOLS
from notes_support import Handle, NotesDB, StartAgent


@pytest.fixture(autouse=True)
def notes_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NotesDB:
    """Every test gets an empty database of its own (so none writes notes.db where pytest
    was started), through the NOTES_DB variable the tools read."""
    path = tmp_path / "notes.db"
    monkeypatch.setenv("NOTES_DB", str(path))
    return NotesDB(path)


@pytest_asyncio.fixture
async def start_agent() -> AsyncIterator[StartAgent]:
    """Start an agent on a time-skipping server of its own (it starts in a tenth of a second),
    served by a plain Worker: the plugin gives it the workflow and the activities of the
    scripted model and the notes tools. Workers and servers stop when the test ends."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(llm: ScriptedLLM, agent_input: AgentInput) -> Handle:
            # Settings() rather than the environment's: a tester's AGENTIC_LOOP_* or
            # TEMPORAL_* variables must not change what the test runs.
            plugin = AgentLoopPlugin(Settings(), provider=llm, tools=TOOLS)
            env = await start_time_skipping(plugin)
            stack.push_async_callback(env.shutdown)
            task_queue = f"notes-{uuid.uuid4()}"
            await stack.enter_async_context(Worker(env.client, task_queue=task_queue))
            return await env.client.start_workflow(
                AgentWorkflow.run,
                agent_input,
                id=f"notes-{uuid.uuid4()}",
                task_queue=task_queue,
            )

        yield start
