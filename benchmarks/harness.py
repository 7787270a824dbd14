"""Running conversations of either design on one dev server and timing them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from agentic_loop.config import Settings
from agentic_loop.temporal.connection import connect_client
from agentic_loop.temporal.dev_server import start_dev_server
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.transcript.cache import TranscriptCache
from agentic_loop.types import AgentInput, AgentResult, AgentStatus
from agentic_loop.worker import build_worker
from agentic_loop.workflow import WORKFLOW_NAME
from benchmarks.naive import NAIVE_WORKFLOW_NAME, build_naive_worker
from benchmarks.workload import BenchLLM, bench_input, bench_registry

OURS = "agentic-loop"
NAIVE = "naive"


@dataclass(frozen=True)
class Design:
    """A workflow to drive, on the task queue of the worker that runs it."""

    label: str
    workflow: str
    task_queue: str
    # Applied to every input, e.g. to run agentic-loop with inline_tools=[].
    input_fields: dict[str, Any] = field(default_factory=dict)

    def input(self, steps: int, latency: float) -> AgentInput:
        return replace(bench_input(steps, latency), **self.input_fields)


@dataclass
class Batch:
    """C conversations started together."""

    wall_seconds: float
    steps: int
    step_latencies: list[float]

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.wall_seconds


class Bench:
    """One dev server; agentic-loop's worker as `build_worker` ships it, and the naive
    design's worker with the very same settings, both fed by one BenchLLM."""

    def __init__(self, client: Client, llm: BenchLLM, cache: TranscriptCache) -> None:
        self.client = client
        self.llm = llm
        self.cache = cache
        self._stack = AsyncExitStack()

    @classmethod
    @asynccontextmanager
    async def start(cls) -> AsyncIterator[Bench]:
        env = await start_dev_server(plugin=AgentLoopPlugin(Settings.from_env()))
        try:
            # The client a user of the product gets: its data converter (payload codec) and
            # interceptors, so the bench pays for what production pays for.
            client = await connect_client(
                Settings.from_env(),
                address_override=env.client.service_client.config.target_host,
                namespace_override=env.client.namespace,
            )
            bench = cls(client, BenchLLM(), TranscriptCache())
            async with bench._stack:
                yield bench
        finally:
            await env.shutdown()

    async def add_worker(
        self, make: Callable[[Client, str, BenchLLM, TranscriptCache], Worker]
    ) -> str:
        """Run a worker built by `make` until the bench ends; returns its task queue."""
        task_queue = f"bench-{uuid.uuid4()}"
        await self._stack.enter_async_context(make(self.client, task_queue, self.llm, self.cache))
        return task_queue

    async def shipped_designs(self, **worker_kwargs: Any) -> tuple[Design, Design, Worker]:
        """agentic-loop and the naive design, on workers with the same settings."""
        built: list[Worker] = []

        def ours(client: Client, tq: str, llm: BenchLLM, cache: TranscriptCache) -> Worker:
            worker = build_worker(
                client,
                task_queue=tq,
                provider=llm,
                tools=bench_registry(),
                cache=cache,
                **worker_kwargs,
            )
            built.append(worker)
            return worker

        ours_tq = await self.add_worker(ours)
        naive_tq = await self.add_worker(
            lambda _c, tq, llm, _cache: build_naive_worker(
                built[0], task_queue=tq, provider=llm, tools=bench_registry()
            )
        )
        return (
            Design(OURS, WORKFLOW_NAME, ours_tq),
            Design(NAIVE, NAIVE_WORKFLOW_NAME, naive_tq),
            built[0],
        )

    @asynccontextmanager
    async def variant(self, like: Worker, label: str, **overrides: Any) -> AsyncIterator[Design]:
        """agentic-loop on a worker with `like`'s settings but for `overrides`, for as long as
        the block runs (an idle worker's pollers would blur the next experiment)."""
        task_queue = f"bench-{uuid.uuid4()}"
        config: dict[str, Any] = {**like.config(), "task_queue": task_queue, **overrides}
        worker = Worker(**config)
        async with worker:
            yield Design(label, WORKFLOW_NAME, task_queue)

    async def start_conversation(
        self, design: Design, steps: int, latency: float = 0.0
    ) -> WorkflowHandle[Any, AgentResult]:
        return await self.client.start_workflow(
            design.workflow,
            design.input(steps, latency),
            id=f"{design.label}-{steps}-{uuid.uuid4()}",
            task_queue=design.task_queue,
            result_type=AgentResult,
        )

    async def finish(self, handle: WorkflowHandle[Any, AgentResult], steps: int) -> AgentResult:
        result = await handle.result()
        if result.status != AgentStatus.COMPLETED or result.tool_calls != steps:
            raise RuntimeError(
                f"{handle.id} ended {result.status} after {result.tool_calls} of {steps} "
                f"steps: {result.error or result.answer!r}"
            )
        return result

    async def conversation(
        self, design: Design, steps: int, latency: float = 0.0
    ) -> tuple[float, WorkflowHandle[Any, AgentResult]]:
        """Wall seconds of one whole conversation, start to result, and its handle."""
        began = time.perf_counter()
        handle = await self.start_conversation(design, steps, latency)
        await self.finish(handle, steps)
        return time.perf_counter() - began, handle

    async def batch(self, design: Design, concurrency: int, steps: int, latency: float) -> Batch:
        self.llm.reset()
        began = time.perf_counter()

        async def one() -> None:
            await self.finish(await self.start_conversation(design, steps, latency), steps)

        await asyncio.gather(*(one() for _ in range(concurrency)))
        wall = time.perf_counter() - began
        return Batch(wall, concurrency * steps, self.llm.step_latencies())
