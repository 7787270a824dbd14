"""Shared fixtures: the real time-skipping test server, and a runner for scripted agents."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from agentic_loop.config import Settings
from agentic_loop.llm.base import LLMProvider
from agentic_loop.temporal.dev_server import start_time_skipping
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.tools import ToolRegistry, default_registry
from agentic_loop.transcript.cache import TranscriptCache
from agentic_loop.types import AgentInput, AgentResult
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from support import AgentRun, RunAgent


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping(AgentLoopPlugin(Settings()))
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def own_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test. A test that cancels a workflow while its activity
    is in flight leaves that activity outstanding on the server, which then stops skipping
    time; on a server of its own, that cannot stall the tests after it."""
    env = await start_time_skipping(AgentLoopPlugin(Settings()))
    try:
        yield env
    finally:
        await env.shutdown()


class _Agents:
    """Starts agents on fresh workers and task queues, and stops the workers at the end."""

    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env
        self.workers: list[tuple[Worker, asyncio.Task[None]]] = []

    async def start(
        self,
        provider: LLMProvider,
        agent_input: AgentInput | None = None,
        *,
        tools: ToolRegistry | None = None,
        cache: TranscriptCache | None = None,
        **input_fields: Any,
    ) -> WorkflowHandle[Any, AgentResult]:
        if agent_input is None:
            agent_input = AgentInput(**{"goal": "test goal", **input_fields})
        task_queue = f"tq-{uuid.uuid4()}"
        worker = build_worker(
            self.env.client,
            task_queue=task_queue,
            provider=provider,
            tools=tools if tools is not None else default_registry(),
            cache=cache,
        )
        self.workers.append((worker, asyncio.create_task(worker.run())))
        return await self.env.client.start_workflow(
            AgentWorkflow.run, agent_input, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )

    def check_workers(self) -> None:
        for _, running in self.workers:
            if running.done():
                running.result()  # a worker that died must fail the test, not hide behind it

    async def stop(self) -> None:
        for worker, _ in self.workers:
            await worker.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def agents(time_env: WorkflowEnvironment) -> AsyncIterator[_Agents]:
    """Start agents on the time-skipping server; the workers keep running until the test ends,
    so tests can signal, update and query them, finished or not."""
    started = _Agents(time_env)
    yield started
    await started.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def own_agents(own_time_env: WorkflowEnvironment) -> AsyncIterator[_Agents]:
    """Like `agents`, on a time-skipping server of the test's own (see own_time_env)."""
    started = _Agents(own_time_env)
    yield started
    await started.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def run_agent(agents: _Agents) -> RunAgent:
    """Run one agent to its end on a fresh worker and task queue; returns result and handle."""

    async def run(provider: LLMProvider, *args: Any, **kwargs: Any) -> AgentRun:
        handle = await agents.start(provider, *args, **kwargs)
        result = await handle.result()
        agents.check_workers()
        return AgentRun(result=result, handle=handle, provider=provider)

    return run
