"""Agents: run agents in a test on fresh workers and task queues, and leave nothing behind.

    async with Agents(env) as agents:
        run = await agents.run(Script().answers("Hi!"), goal="Say hi")
        assert run.result.answer == "Hi!"

Each agent gets a worker of its own (built by `build_worker`, so with the env client's
AgentLoopPlugin) on a task queue of its own, so tests never serve each other's workflows.
The workers keep running until the end, so a test can query, update and signal its agents
after they finish. At the end the workers stop, and the workflows still open are terminated
after that (see servers.py for why in that order); a worker that died fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from agentic_loop.outcome import agent_result
from agentic_loop.temporal.start_options import agent_start_options
from agentic_loop.testing.run import AgentRun, collect_run

if TYPE_CHECKING:
    from types import TracebackType

    from temporalio.client import Client, WorkflowHandle
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from agentic_loop.llm.base import LLMProvider
    from agentic_loop.testing.script import Script
    from agentic_loop.tools import Tool, ToolRegistry
    from agentic_loop.transcript.cache import TranscriptCache
    from agentic_loop.types import AgentInput, AgentProgress, AgentResult, ToolCall

    Handle = WorkflowHandle[Any, AgentResult]

T = TypeVar("T")
# Wall-clock seconds an agent gets to finish: on the time-skipping server even hours of
# retries take well under a second, so a run past this is stuck, not slow.
DEFAULT_DEADLINE_SECONDS = 60.0
DEFAULT_GOAL = "test goal"
# A worker stops once its activities have heeded their cancellation; one that does not is a bug.
STOP_SECONDS = 30.0


class Agents:
    """Starts agents on `env`'s client, each on a fresh worker and task queue.

    provider, tools: what every agent's worker serves unless `start` is given others; None
    takes the plugin's (the `agent_plugin` fixture's, in tests).
    deadline: wall-clock seconds `finish` waits for a result before failing the test.
    """

    def __init__(
        self,
        env: WorkflowEnvironment,
        *,
        provider: LLMProvider | Script | None = None,
        tools: ToolRegistry | Iterable[Tool] | None = None,
        deadline: float = DEFAULT_DEADLINE_SECONDS,
    ) -> None:
        self.env = env
        self.provider = provider
        self.tools = tools
        self.deadline = deadline
        self._workers: list[tuple[Worker, asyncio.Task[None]]] = []
        self._started: dict[str, tuple[Handle, LLMProvider | None]] = {}
        # The loop the env's client was made on, when made in a fixture of the session's loop.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._closed = False

    @property
    def client(self) -> Client:
        return self.env.client

    async def __aenter__(self) -> Agents:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(
        self,
        provider: LLMProvider | Script | None = None,
        agent_input: AgentInput | None = None,
        *,
        tools: ToolRegistry | Iterable[Tool] | None = None,
        cache: TranscriptCache | None = None,
        workflow_id: str | None = None,
        **input_fields: Any,
    ) -> Handle:
        """Start an agent on a worker of its own; its handle. Without `agent_input`, one is
        made of `input_fields` (`goal` defaulting to "test goal"). `tools` is the worker's
        registry (the names offered to the model are AgentInput.tools)."""
        from agentic_loop.types import AgentInput
        from agentic_loop.worker import build_worker
        from agentic_loop.workflow import AgentWorkflow

        self._check_loop()
        if self._closed:
            raise RuntimeError("these Agents are closed: start agents before the test ends")
        if agent_input is None:
            agent_input = AgentInput(**{"goal": DEFAULT_GOAL, **input_fields})
        elif input_fields:
            raise TypeError(
                f"give an AgentInput or its fields, not both (got {', '.join(input_fields)})"
            )
        model = _provider(provider if provider is not None else self.provider)
        task_queue = f"agents-{uuid.uuid4()}"
        worker = build_worker(
            self.client,
            task_queue=task_queue,
            provider=model,
            tools=_registry(tools if tools is not None else self.tools),
            cache=cache,
        )
        self._workers.append((worker, asyncio.create_task(worker.run())))
        namespace = self.client.namespace
        handle = await self.client.start_workflow(
            AgentWorkflow.run,
            agent_input,
            id=workflow_id or f"agent-{uuid.uuid4()}",
            task_queue=task_queue,
            # As the command line starts agents: the UI's summary and AgentStatus.
            **await agent_start_options(self.client, namespace, agent_input.goal),
        )
        self._started[handle.id] = (handle, model)
        return handle

    async def finish(self, handle: Handle, *, within: float | None = None) -> AgentRun:
        """Wait for a started agent to end (at most `within` wall-clock seconds); its run,
        with transcript and history. A worker that dies meanwhile fails it at once."""
        within = self.deadline if within is None else within
        try:
            async with asyncio.timeout(within):
                result = await self._unless_a_worker_dies(agent_result(handle))
        except TimeoutError:
            raise AssertionError(
                f"agent {handle.id} did not end within {within:g} s of wall-clock time; "
                f"{await _described(handle)}. If it waits for a message or an approval, send "
                "it; on the time-skipping server only handle.result() lets time jump, and "
                "polling never does"
            ) from None
        _, provider = self._started.get(handle.id, (handle, None))
        return await collect_run(self.client, handle, result, provider)

    async def run(
        self,
        provider: LLMProvider | Script | None = None,
        agent_input: AgentInput | None = None,
        *,
        tools: ToolRegistry | Iterable[Tool] | None = None,
        cache: TranscriptCache | None = None,
        workflow_id: str | None = None,
        within: float | None = None,
        **input_fields: Any,
    ) -> AgentRun:
        """Start an agent and wait for its end: `start`, then `finish`."""
        handle = await self.start(
            provider,
            agent_input,
            tools=tools,
            cache=cache,
            workflow_id=workflow_id,
            **input_fields,
        )
        return await self.finish(handle, within=within)

    def check_workers(self) -> None:
        """Raise what killed a worker, if one died: a test must not pass on a dead worker."""
        for worker, running in self._workers:
            if running.done() and not running.cancelled() and running.exception() is not None:
                raise AssertionError(
                    f"the worker of task queue {worker.task_queue} died: {running.exception()}"
                ) from running.exception()

    async def close(self) -> None:
        """Stop the workers, then terminate the agents still open (in that order: see
        servers.py); raise what killed a worker, if one died."""
        if self._closed:
            return
        self._closed = True
        still_open = [id for id in self._started if await _is_open(self.client, id)]
        for workflow_id in still_open:
            await _settle(self.client, workflow_id)
        stuck = []
        for worker, running in self._workers:
            if not running.done():
                try:
                    await asyncio.wait_for(worker.shutdown(), STOP_SECONDS)
                except TimeoutError:
                    stuck.append(worker.task_queue)
        for workflow_id in still_open:
            await _terminate(self.client, workflow_id)
        if stuck:
            raise AssertionError(
                f"the worker of task queue {stuck[0]} did not stop within {STOP_SECONDS:g} s: "
                "an activity of it ignores cancellation (a tool that blocks a thread, say); "
                "give that tool a timeout of its own"
            )
        self.check_workers()

    async def _unless_a_worker_dies(self, awaitable: Awaitable[T]) -> T:
        waiting = asyncio.ensure_future(awaitable)
        try:
            watched = [running for _, running in self._workers]
            await asyncio.wait([waiting, *watched], return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():
                return waiting.result()
            self.check_workers()
            raise AssertionError("a worker stopped before the agent ended")
        finally:
            waiting.cancel()

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(
                "this test runs on another event loop than the one its agents' server was "
                "started on, and a Temporal client works only on its own: set "
                'asyncio_default_fixture_loop_scope = "session" and '
                'asyncio_default_test_loop_scope = "session" in your pytest configuration '
                '(or mark the test @pytest.mark.asyncio(loop_scope="session"))'
            )


class RunAgent(Protocol):
    """The `run_agent` fixture: `Agents.run` of the test's agents."""

    async def __call__(
        self,
        provider: LLMProvider | Script | None = None,
        agent_input: AgentInput | None = None,
        *,
        tools: ToolRegistry | Iterable[Tool] | None = None,
        cache: TranscriptCache | None = None,
        workflow_id: str | None = None,
        within: float | None = None,
        **input_fields: Any,
    ) -> AgentRun: ...


async def run_agent(
    env: WorkflowEnvironment,
    provider: LLMProvider | Script | None = None,
    agent_input: AgentInput | None = None,
    **options: Any,
) -> AgentRun:
    """Run one agent to its end on `env` (on a worker of its own, stopped afterwards): its
    run. `options` are those of `Agents.run`."""
    async with Agents(env) as agents:
        return await agents.run(provider, agent_input, **options)


async def wait_until(
    handle: Handle,
    check: Callable[[AgentProgress], bool],
    *,
    within: float = 20.0,
    every: float = 0.05,
    what: str = "the condition",
) -> AgentProgress:
    """Poll the agent's `status` query until `check` holds; that status. Polling does not let
    the time-skipping server skip time, so an approval's timeout never passes meanwhile."""
    from agentic_loop.workflow import AgentWorkflow

    deadline = time.monotonic() + within
    while True:
        progress = await handle.query(AgentWorkflow.status)
        if check(progress):
            return progress
        if time.monotonic() > deadline:
            raise AssertionError(
                f"waited {within:g} s for {what} in agent {handle.id}, but it stayed "
                f"{progress.status.value} ({progress.phase}), after {progress.turns} turn(s) "
                f"and {progress.tool_calls} tool call(s)"
            )
        await asyncio.sleep(every)


async def wait_for_approval(handle: Handle, *, within: float = 20.0) -> list[ToolCall]:
    """Wait until the agent has tool calls waiting for approval; those calls."""
    progress = await wait_until(
        handle, lambda p: bool(p.awaiting_approval), within=within, what="a call to approve"
    )
    return list(progress.awaiting_approval)


def _provider(provider: LLMProvider | Script | None) -> LLMProvider | None:
    from agentic_loop.testing.script import Script

    return provider.llm() if isinstance(provider, Script) else provider


def _registry(tools: ToolRegistry | Iterable[Tool] | None) -> ToolRegistry | None:
    from agentic_loop.tools import ToolRegistry

    if tools is None or isinstance(tools, ToolRegistry):
        return tools
    return ToolRegistry(tools)


async def _described(handle: Handle) -> str:
    from agentic_loop.workflow import AgentWorkflow

    try:
        progress = await asyncio.wait_for(handle.query(AgentWorkflow.status), 5)
    except Exception as e:  # the deadline's message must not be lost to a failing query
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        return f"its status could not be read ({why})"
    return (
        f"it was {progress.status.value} ({progress.phase}) after {progress.turns} turn(s) "
        f"and {progress.tool_calls} tool call(s)"
    )


async def _is_open(client: Client, workflow_id: str) -> bool:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    try:
        # By id alone: the run now open may be a later one, after continue-as-new.
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return description.status == WorkflowExecutionStatus.RUNNING


# Workflow task events: the last of them says whether a task is outstanding.
_TASK_EVENTS = {
    "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED": True,
    "EVENT_TYPE_WORKFLOW_TASK_STARTED": True,
    "EVENT_TYPE_WORKFLOW_TASK_COMPLETED": False,
    "EVENT_TYPE_WORKFLOW_TASK_FAILED": False,
    "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT": False,
}
SETTLE_SECONDS = 2.0


async def _settle(client: Client, workflow_id: str) -> None:
    """Wait (a little) until the workflow has no workflow task outstanding, while its worker
    still runs: the test server's clock stays locked by a task that a terminated workflow
    never completes (servers.py)."""
    from temporalio.api.enums.v1 import EventType

    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        outstanding = False
        for event in history.events:
            outstanding = _TASK_EVENTS.get(EventType.Name(event.event_type), outstanding)
        if not outstanding:
            return
        await asyncio.sleep(0.02)


async def _terminate(client: Client, workflow_id: str) -> None:
    from temporalio.service import RPCError

    with contextlib.suppress(RPCError):  # it may have ended meanwhile
        await client.get_workflow_handle(workflow_id).terminate("the test ended")
