"""Shared fixtures: the real time-skipping test server, and a runner for scripted agents."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from agentic_loop.llm.base import LLMProvider
from agentic_loop.server import start_time_skipping
from agentic_loop.tools import ToolRegistry, default_registry
from agentic_loop.transcript_cache import TranscriptCache
from agentic_loop.types import AgentInput
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from support import AgentRun, RunAgent


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def run_agent(time_env: WorkflowEnvironment) -> AsyncIterator[RunAgent]:
    """Run one agent to its end on a fresh worker and task queue; returns result and handle.
    The workers keep running until the test ends, so tests can query finished workflows."""
    workers: list[Worker] = []

    async def run(
        provider: LLMProvider,
        agent_input: AgentInput | None = None,
        *,
        tools: ToolRegistry | None = None,
        cache: TranscriptCache | None = None,
        **input_fields: Any,
    ) -> AgentRun:
        if agent_input is None:
            agent_input = AgentInput(**{"goal": "test goal", **input_fields})
        task_queue = f"tq-{uuid.uuid4()}"
        worker = build_worker(
            time_env.client,
            task_queue=task_queue,
            provider=provider,
            tools=tools if tools is not None else default_registry(),
            cache=cache,
        )
        workers.append(worker)
        running = asyncio.create_task(worker.run())
        handle = await time_env.client.start_workflow(
            AgentWorkflow.run, agent_input, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )
        result = await handle.result()
        if running.done():
            running.result()  # a worker that died must fail the test, not hide behind it
        return AgentRun(result=result, handle=handle, provider=provider)

    yield run
    for worker in workers:
        await worker.shutdown()
