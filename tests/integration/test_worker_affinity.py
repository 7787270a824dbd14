"""Worker affinity: a conversation's next calls go to the worker that holds its transcript
(temporal/affinity.py, workflow/affinity.py), on the dev server (the time-skipping test server
cannot list a queue's pollers, so a worker there never sees another: tests/unit/test_affinity.py).
Workers of one process stand in for worker processes here, each with a client, an identity and
a cache of its own; test_worker_crash.py runs real processes and kills one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest_asyncio
from temporalio import activity
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.worker import Worker

from agentic_loop.activities import LLMActivities
from agentic_loop.config import Settings
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.temporal.affinity import SEPARATOR, Affinity, other_pollers
from agentic_loop.temporal.plugin import AgentLoopPlugin, plugin_of
from agentic_loop.testing.run import fetch_histories
from agentic_loop.tools import default_registry
from agentic_loop.transcript.cache import TranscriptCache
from agentic_loop.types import AgentInput, AgentResult, AgentStatus, LLMRequest, LLMTurn
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from production_support import dev_server
from support import poll_until


def _steps(n: int, *, tool: str = "calculator") -> ScriptedLLM:
    """n steps, each one call of `tool`, then an answer (any number of conversations)."""
    turns: list[dict[str, Any]] = [
        {
            "tool_calls": [
                {"id": f"c{i}", "name": tool, "arguments": _arguments(tool, i)},
            ]
        }
        for i in range(n)
    ]
    turns.append({"content": f"Done after {n} steps."})
    return ScriptedLLM.from_data({"turns": turns})


def _arguments(tool: str, i: int) -> dict[str, Any]:
    return {"expression": f"{i} + 3"} if tool == "calculator" else {"query": f"step {i}"}


def _scheduled(history: WorkflowHistory, activity: str = "call_llm") -> list[Any]:
    return [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    ]


def _queues(history: WorkflowHistory, activity: str = "call_llm") -> list[str]:
    return [a.task_queue.name for a in _scheduled(history, activity)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client() -> AsyncIterator[Client]:
    """A dev server of this module's; its client has AgentLoopPlugin."""
    async with dev_server() as env:
        yield env.client


async def _start(client: Client, queue: str, agent_input: AgentInput) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        AgentWorkflow.run, agent_input, id=f"affinity-{uuid.uuid4()}", task_queue=queue
    )


async def _another_client(client: Client, plugin: AgentLoopPlugin | None = None) -> Client:
    """A client of the same server with a plugin of its own: a second worker on a queue needs
    a client of its own (the SDK refuses two workers of one queue on one client), as a second
    worker process has."""
    return await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        plugins=[plugin or AgentLoopPlugin(Settings())],
    )


def _workers(
    clients: list[Client], caches: list[TranscriptCache], queue: str, **options: Any
) -> list[Worker]:
    """One worker a client on `queue`, each with its cache and an identity of its own."""
    return [
        build_worker(
            c,
            task_queue=queue,
            provider=_steps(6),
            tools=default_registry(),
            cache=cache,
            identity=f"affinity-worker-{n}",
            **options,
        )
        for n, (c, cache) in enumerate(zip(clients, caches, strict=True))
    ]


@pytest_asyncio.fixture(loop_scope="session")
async def two_workers(client: Client) -> AsyncIterator[tuple[str, list[TranscriptCache]]]:
    """Two workers on one shared queue, each with a transcript cache, a client and an
    identity of its own, as two worker processes would have; with eager activity start off
    (as on a server that does not grant it, the case routing is for) and affinity "always"
    (what docs/production.md advises there: routed from a conversation's first call).
    Yielded once each has seen the other polling."""
    queue = f"affinity-{uuid.uuid4()}"
    caches = [TranscriptCache(), TranscriptCache()]
    clients = [
        await _another_client(client, AgentLoopPlugin(Settings(), worker_affinity="always"))
        for _ in range(2)
    ]
    workers = _workers(clients, caches, queue, disable_eager_activity_execution=True)
    async with workers[0], workers[1]:
        await _until_both_see_the_other(clients, queue)
        yield queue, caches


async def _until_both_see_the_other(clients: list[Client], queue: str) -> None:
    async def seen() -> tuple[list[str | None], list[set[str]]]:
        own = [plugin_of(c).worker_queue(queue) for c in clients]
        listed = [
            await other_pollers(c, queue, f"affinity-worker-{n}") for n, c in enumerate(clients)
        ]
        return own, listed

    await poll_until(
        seen,
        lambda state: all(state[0]),
        within=30,
        what="both workers to see the other (their queues, and who the server lists)",
    )


async def test_after_the_first_call_every_llm_call_goes_to_the_worker_holding_the_transcript(
    client: Client, two_workers: tuple[str, list[TranscriptCache]]
) -> None:
    """With two workers of separate caches on one queue, the first LLM call goes to the shared
    queue and every later one to the one worker-specific queue of whoever answered, waiting
    at most the default 5 s there: no step reads the transcript back (no cache miss)."""
    queue, caches = two_workers
    hits, misses = sum(c.hits for c in caches), sum(c.misses for c in caches)
    handle = await _start(client, queue, AgentInput(goal="six steps", max_turns=10))
    result: AgentResult = await handle.result()
    assert result.status == AgentStatus.COMPLETED
    history = await handle.fetch_history()
    queues = _queues(history)
    assert len(queues) == 7
    assert queues[0] == queue
    own = queues[1]
    assert own.startswith(queue + SEPARATOR)
    assert queues[1:] == [own] * 6
    waits = [a.schedule_to_start_timeout.ToTimedelta() for a in _scheduled(history)]
    assert waits[1:] == [timedelta(seconds=5)] * 6
    assert sum(c.misses for c in caches) == misses
    assert sum(c.hits for c in caches) == hits + 6


async def test_where_the_server_starts_calls_eagerly_nothing_is_routed(client: Client) -> None:
    """Two workers with eager activity start (the dev server grants it), affinity "auto" (the
    default): every call comes
    back to the worker that runs the conversation's workflow task, finds the conversation
    there, and names no queue, so all calls stay on the shared queue, where the server can
    hand them over with the workflow task (routing would cost a trip through a queue)."""
    clients = [client, await _another_client(client)]
    caches = [TranscriptCache(), TranscriptCache()]
    queue = f"affinity-eager-{uuid.uuid4()}"
    workers = _workers(clients, caches, queue)
    async with workers[0], workers[1]:
        await _until_both_see_the_other(clients, queue)
        handle = await _start(client, queue, AgentInput(goal="six steps", max_turns=10))
        assert (await handle.result()).status == AgentStatus.COMPLETED
    assert _queues(await handle.fetch_history()) == [queue] * 7
    assert sum(c.misses for c in caches) == 0


async def test_workers_given_nothing_but_the_plugin_route_too(client: Client) -> None:
    """Two workers built with no components of their own, the plugin's provider and tools
    (as `agentic-loop worker` and a plain `Worker(client, task_queue=...)` are): their turns
    name their own queues once each sees the other, and the conversation follows. (Eager
    start off and affinity "always", as in `two_workers`.)"""
    plugins = [
        AgentLoopPlugin(
            Settings(), provider=_steps(3), tools=default_registry(), worker_affinity="always"
        )
        for _ in range(2)
    ]
    clients = [await _another_client(client, p) for p in plugins]
    queue = f"affinity-plain-{uuid.uuid4()}"
    workers = [
        Worker(c, task_queue=queue, identity=f"plain-{n}", disable_eager_activity_execution=True)
        for n, c in enumerate(clients)
    ]
    async with workers[0], workers[1]:
        await poll_until(
            lambda: all(p.worker_queue(queue) for p in plugins),
            within=30,
            what="both workers to see the other",
        )
        misses = sum(p.cache.misses for p in plugins)
        handle = await _start(clients[0], queue, AgentInput(goal="three steps", max_turns=5))
        assert (await handle.result()).status == AgentStatus.COMPLETED
    queues = _queues(await handle.fetch_history())
    assert queues[0] == queue
    assert len(set(queues[1:])) == 1
    assert queues[1].startswith(queue + SEPARATOR)
    assert sum(p.cache.misses for p in plugins) == misses


async def test_tool_activities_go_to_the_same_worker_as_the_turn_that_asked_for_them(
    client: Client, two_workers: tuple[str, list[TranscriptCache]]
) -> None:
    """A tool that runs as its own activity (not inline, not local) is scheduled on the queue
    of the worker whose LLM turn called it, so its result is cached where the next LLM call
    goes: still no transcript read."""
    queue, caches = two_workers
    misses = sum(c.misses for c in caches)
    agent_input = AgentInput(
        goal="six steps", max_turns=10, tools=["calculator"], inline_tools=[], local_tools=[]
    )
    handle = await _start(client, queue, agent_input)
    assert (await handle.result()).status == AgentStatus.COMPLETED
    history = await handle.fetch_history()
    llm_queues, tool_queues = _queues(history), _queues(history, "run_tool")
    assert len(tool_queues) == 6
    # Each tool call goes where the turn before it was made (turn i asked for tool call i).
    assert tool_queues == llm_queues[1:]
    assert all(q.startswith(queue + SEPARATOR) for q in tool_queues)
    assert sum(c.misses for c in caches) == misses


async def test_without_affinity_every_call_goes_to_the_shared_queue(
    client: Client, two_workers: tuple[str, list[TranscriptCache]]
) -> None:
    """`worker_affinity_seconds=None` in the input: every call on the shared queue, with no
    limit of ours on waiting to start."""
    queue, _ = two_workers
    handle = await _start(
        client, queue, AgentInput(goal="six steps", max_turns=10, worker_affinity_seconds=None)
    )
    assert (await handle.result()).status == AgentStatus.COMPLETED
    history = await handle.fetch_history()
    assert _queues(history) == [queue] * 7
    # No limit of ours (0: none, as the dev server records it), not a wait for a worker.
    waits = {a.schedule_to_start_timeout.ToTimedelta() for a in _scheduled(history)}
    assert waits == {timedelta(0)}, waits


async def test_a_worker_alone_on_its_queue_names_no_queue_of_its_own(client: Client) -> None:
    """One worker on a queue: its turns name no queue, so every call stays on the shared one,
    where the server may hand it to that worker with its workflow task (eager start)."""
    queue = f"affinity-alone-{uuid.uuid4()}"
    worker = build_worker(client, task_queue=queue, provider=_steps(3), tools=default_registry())
    async with worker:
        handle = await _start(client, queue, AgentInput(goal="three steps", max_turns=5))
        assert (await handle.result()).status == AgentStatus.COMPLETED
        assert plugin_of(client).worker_queue(queue) is None
    assert _queues(await handle.fetch_history()) == [queue] * 4


async def test_a_plugin_without_affinity_offers_no_queue_of_its_own(client: Client) -> None:
    """AgentLoopPlugin(worker_affinity=False), two workers that the server lists as polling
    one queue: neither names a queue of its own, so every call stays on the shared queue."""
    plugins = [AgentLoopPlugin(Settings(), worker_affinity=False) for _ in range(2)]
    clients = [await _another_client(client, p) for p in plugins]
    queue = f"affinity-off-{uuid.uuid4()}"
    workers = [
        build_worker(
            c, task_queue=queue, provider=_steps(3), tools=default_registry(), identity=f"off-{n}"
        )
        for n, c in enumerate(clients)
    ]
    async with workers[0], workers[1]:
        await poll_until(
            lambda: other_pollers(clients[0], queue, "off-0"),
            lambda others: others == {"off-1"},
            within=30,
            what="the server to list both workers",
        )
        handle = await _start(clients[0], queue, AgentInput(goal="three steps", max_turns=5))
        assert (await handle.result()).status == AgentStatus.COMPLETED
        assert all(p.worker_queue(queue) is None for p in plugins)
    assert _queues(await handle.fetch_history()) == [queue] * 4


class _FirstTurnNamesAGoneWorker(LLMActivities):
    """The real LLM activity, except that its first turn names a worker queue nobody polls,
    as if the worker that made it had died since (the time-skipping server does not move a
    stopped worker's sticky workflow tasks on, so a dead worker is played here, not made;
    tests/integration/test_worker_crash.py kills a real one)."""

    @activity.defn(name="call_llm")
    async def call_llm(self, request: LLMRequest) -> LLMTurn:
        turn = await super().call_llm(request)
        if request.turn == 1:
            turn.worker_queue = f"{activity.info().task_queue}{SEPARATOR}gone"
        return turn


async def test_a_call_its_worker_does_not_pick_up_goes_to_any_worker_after_the_wait(
    client: Client,
) -> None:
    """The worker a turn named is gone: the next call waits on its queue exactly the input's
    worker_affinity_seconds, times out waiting to start, and is scheduled again on the shared
    queue, where the worker answers it. (The test server does not skip this wait: 2 s.)"""
    queue = f"affinity-gone-{uuid.uuid4()}"
    cache = TranscriptCache()
    llm = _FirstTurnNamesAGoneWorker(_steps(1), default_registry(), cache, affinity=Affinity())
    async with Worker(client, task_queue=queue, activities=[llm.call_llm]):
        handle = await _start(
            client, queue, AgentInput(goal="one step", max_turns=3, worker_affinity_seconds=2)
        )
        assert (await handle.result()).status == AgentStatus.COMPLETED
    history = await handle.fetch_history()
    events = {e.event_id: e for e in history.events}
    scheduled = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert [e.activity_task_scheduled_event_attributes.task_queue.name for e in scheduled] == [
        queue,
        f"{queue}{SEPARATOR}gone",
        queue,
    ]
    gone = scheduled[1]
    wait = gone.activity_task_scheduled_event_attributes.schedule_to_start_timeout
    assert wait.ToTimedelta() == timedelta(seconds=2)
    (timed_out,) = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT
    ]
    attributes = timed_out.activity_task_timed_out_event_attributes
    assert events[attributes.scheduled_event_id] is gone
    kind = attributes.failure.timeout_failure_info.timeout_type
    assert kind == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
    waited = timed_out.event_time.ToDatetime() - gone.event_time.ToDatetime()
    assert timedelta(seconds=2) <= waited < timedelta(seconds=3)
    # The worker that took it from the shared queue holds the transcript: nothing read back.
    assert cache.misses == 0


async def test_the_worker_queue_crosses_continue_as_new(
    client: Client, two_workers: tuple[str, list[TranscriptCache]]
) -> None:
    """The next run's first LLM call goes to the worker queue the last run's last turn named
    (it is carried), so continue-as-new costs no transcript read either."""
    queue, caches = two_workers
    misses = sum(c.misses for c in caches)
    handle = await _start(
        client,
        queue,
        AgentInput(goal="six steps", max_turns=10, continue_as_new_after_events=12),
    )
    assert (await handle.result()).status == AgentStatus.COMPLETED
    histories = await fetch_histories(client, handle)
    assert len(histories) >= 2
    last_of_first = _queues(histories[0])[-1]
    assert last_of_first.startswith(queue + SEPARATOR)
    assert _queues(histories[1])[0] == last_of_first
    assert sum(c.misses for c in caches) == misses
