"""A worker process SIGKILLed in the middle of a step, on the real dev server."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from harness import (
    WORKER_JOURNAL,
    DevServer,
    ScriptBook,
    StartWorker,
    harness_tools,
    ledger_entries,
    llm_requests,
    read_lines,
    tool_runs,
    wait_until,
    write_script,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.types import (
    AgentInput,
    AgentResult,
    AgentStatus,
    Message,
    TranscriptRequest,
)
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow

RESULT_DEADLINE = 180.0
# Short, so a run whose worker died is retried on the next worker within seconds; still well
# above the slow step, so an undisturbed attempt never times out.
TOOL_TIMEOUT = 8.0
LONG_STEP_SECONDS = 4.0


def _call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


LONG_SCRIPT: dict[str, Any] = {
    "turns": [
        {
            "expect": {"role": "user", "contains": "long"},
            "tool_calls": [_call("add", "calculator", expression="2 + 3")],
        },
        {
            "expect": {"role": "tool", "contains": "5"},
            "tool_calls": [_call("warm-up", "slow_step", label="warm-up", seconds=0.2)],
        },
        {
            "expect": {"role": "tool", "contains": "warm-up: done"},
            "tool_calls": [
                _call("long-step", "slow_step", label="long step", seconds=LONG_STEP_SECONDS)
            ],
        },
        {
            "expect": {"role": "tool", "contains": "long step: done"},
            "tool_calls": [_call("multiply", "calculator", expression="5 * 8")],
        },
        {
            "expect": {"role": "tool", "contains": "40"},
            "content": "Five steps, one of them slow: 2 + 3 = 5 and 5 * 8 = 40.",
        },
    ]
}

ENTRY = "charge order 42: 10 EUR"
LEDGER_SCRIPT: dict[str, Any] = {
    "turns": [
        {
            "tool_calls": [
                _call("charge", "ledger_write", entry=ENTRY, hold=3),
                _call("naive", "naive_write", entry=ENTRY, hold=3),
            ]
        },
        {"expect": {"role": "tool", "contains": "recorded"}, "content": "Order 42 is charged."},
    ]
}


def _input(goal: str) -> AgentInput:
    return AgentInput(goal=goal, tool_timeout_seconds=TOOL_TIMEOUT)


async def _transcript(handle: WorkflowHandle[Any, AgentResult]) -> list[Message]:
    page = await handle.query(AgentWorkflow.transcript, TranscriptRequest())
    messages: list[Message] = page.messages
    return messages


async def _undisturbed(
    client: Client, tmp_path: Path, goal: str, script: dict[str, Any]
) -> tuple[AgentResult, list[Message]]:
    """The same conversation on an in-process worker that nobody kills."""
    workdir = tmp_path / "undisturbed"
    workdir.mkdir()
    task_queue = f"tq-{uuid.uuid4()}"
    book = ScriptBook({goal.split(":")[0]: ScriptedLLM.from_data(script)})
    tools = harness_tools(workdir)
    worker = build_worker(client, task_queue=task_queue, provider=book, tools=tools)
    async with worker:
        handle = await client.start_workflow(
            AgentWorkflow.run, _input(goal), id=f"undisturbed-{uuid.uuid4()}", task_queue=task_queue
        )
        result = await asyncio.wait_for(handle.result(), RESULT_DEADLINE)
        return result, await _transcript(handle)


def _started(workdir: Path, key: str, event: str = "start") -> bool:
    """Whether the tool run with this idempotency key has journaled `event` yet."""
    return any(r["event"] == event for r in tool_runs(workdir, key))


async def test_a_worker_killed_mid_tool_is_replaced_and_the_run_ends_as_if_undisturbed(
    client: Client,
    dev_server: DevServer,
    workdir: Path,
    task_queue: str,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    """SIGKILL during a slow tool, then a new worker process: same answer and transcript as an
    undisturbed run, each LLM turn requested once, each finished tool run once, and only the
    interrupted tool run again."""
    goal = "long: five turns with a slow step in the middle"
    expected, expected_transcript = await _undisturbed(client, tmp_path, goal, LONG_SCRIPT)
    assert expected.status == AgentStatus.COMPLETED

    write_script(workdir, "long", LONG_SCRIPT)
    first = await start_worker(dev_server.address, task_queue)
    workflow_id = f"crash-{uuid.uuid4()}"
    handle = await client.start_workflow(
        AgentWorkflow.run, _input(goal), id=workflow_id, task_queue=task_queue
    )
    long_step = f"{workflow_id}/3/long-step"
    await wait_until(lambda: _started(workdir, long_step), within=60, what="the long step")
    first.kill()
    assert not _started(workdir, long_step, event="done"), "the kill came too late"
    second = await start_worker(dev_server.address, task_queue)

    result = await asyncio.wait_for(handle.result(), RESULT_DEADLINE)
    assert result.status == AgentStatus.COMPLETED
    assert result.answer == expected.answer
    assert await _transcript(handle) == expected_transcript

    requests = llm_requests(workdir, workflow_id)
    assert Counter(r["turn"] for r in requests) == dict.fromkeys(range(1, 6), 1)
    assert [r["pid"] for r in requests] == [first.pid] * 3 + [second.pid] * 2

    runs = tool_runs(workdir, workflow_id)
    starts = Counter(r["key"].rsplit("/", 1)[1] for r in runs if r["event"] == "start")
    assert starts == {"add": 1, "warm-up": 1, "long-step": 2, "multiply": 1}
    assert [(r["event"], r["pid"]) for r in tool_runs(workdir, long_step)] == [
        ("start", first.pid),
        ("start", second.pid),
        ("done", second.pid),
    ]


async def test_idempotency_keys_keep_an_effect_single_when_the_worker_dies_after_it(
    client: Client,
    dev_server: DevServer,
    workdir: Path,
    task_queue: str,
    start_worker: StartWorker,
) -> None:
    """Killed after both tools wrote their effect but before either returned, both run again:
    the tool that deduplicates by idempotency key holds the effect once, the naive one twice."""
    write_script(workdir, "ledger", LEDGER_SCRIPT)
    first = await start_worker(dev_server.address, task_queue)
    workflow_id = f"ledger-{uuid.uuid4()}"
    goal = "ledger: charge order 42 once"
    handle = await client.start_workflow(
        AgentWorkflow.run, _input(goal), id=workflow_id, task_queue=task_queue
    )
    charge, naive = f"{workflow_id}/1/charge", f"{workflow_id}/1/naive"
    await wait_until(
        lambda: all(_started(workdir, key, event="effect") for key in (charge, naive)),
        within=60,
        what="both effects to be written",
    )
    first.kill()
    assert not _started(workdir, charge, event="done")
    assert not _started(workdir, naive, event="done")
    second = await start_worker(dev_server.address, task_queue)

    result = await asyncio.wait_for(handle.result(), RESULT_DEADLINE)
    assert result.status == AgentStatus.COMPLETED

    ledger = [e for e in ledger_entries(workdir) if e["key"] == charge]
    naive_ledger = [e for e in ledger_entries(workdir, naive=True) if e["key"] == naive]
    assert [(e["entry"], e["pid"]) for e in ledger] == [(ENTRY, first.pid)]
    assert [(e["entry"], e["pid"]) for e in naive_ledger] == [
        (ENTRY, first.pid),
        (ENTRY, second.pid),
    ]
    # Both ran twice: the key, not luck, is what kept the ledger single.
    assert [r["event"] for r in tool_runs(workdir, charge)] == [
        "start", "effect", "start", "effect already recorded", "done"
    ]  # fmt: skip
    assert [r["event"] for r in tool_runs(workdir, naive)] == [
        "start", "effect", "start", "effect", "done"
    ]  # fmt: skip


async def test_with_two_workers_a_conversation_stays_on_one_and_its_death_costs_one_read(
    client: Client,
    dev_server: DevServer,
    workdir: Path,
    task_queue: str,
    start_worker: StartWorker,
) -> None:
    """Two worker processes on one queue: every LLM turn goes to the worker that made the
    first, and when that one is SIGKILLed in the middle of the slow tool, the survivor finishes
    the run at the cost of one transcript read (one cache miss), after which it routes the
    conversation to its own queue (worker affinity), within the heartbeat timeout plus the
    sticky workflow task's wait plus a margin."""
    write_script(workdir, "long", LONG_SCRIPT)
    workers = [await start_worker(dev_server.address, task_queue) for _ in range(2)]
    await wait_until(
        lambda: (
            {r["pid"] for r in read_lines(workdir / WORKER_JOURNAL) if r["event"] == "affinity"}
            == {w.pid for w in workers}
        ),
        within=30,
        what="both workers to see the other",
    )
    workflow_id = f"affinity-{uuid.uuid4()}"
    handle = await client.start_workflow(
        AgentWorkflow.run,
        _input("long: five turns with a slow step in the middle"),
        id=workflow_id,
        task_queue=task_queue,
    )
    long_step = f"{workflow_id}/3/long-step"
    await wait_until(lambda: _started(workdir, long_step), within=60, what="the long step")
    holder = tool_runs(workdir, long_step)[0]["pid"]
    (victim,) = [w for w in workers if w.pid == holder]
    (survivor,) = [w for w in workers if w.pid != holder]
    victim.kill()
    killed_at = asyncio.get_running_loop().time()

    result = await asyncio.wait_for(handle.result(), RESULT_DEADLINE)
    took = asyncio.get_running_loop().time() - killed_at
    assert result.status == AgentStatus.COMPLETED
    requests = llm_requests(workdir, workflow_id)
    assert [r["pid"] for r in requests] == [holder] * 3 + [survivor.pid] * 2
    assert [r["pid"] for r in tool_runs(workdir, long_step)] == [holder, survivor.pid, survivor.pid]
    # The tool's heartbeat timeout (TOOL_TIMEOUT), the wait for the dead worker's sticky
    # workflow task queue (5 s), the rerun slow step, and a margin for a busy machine.
    assert took < TOOL_TIMEOUT + 5 + LONG_STEP_SECONDS + 20, took

    # The dev server starts a workflow's activities eagerly on the worker that ran its
    # workflow task, so until the kill the conversation's calls found it on its worker with no
    # routing: all on the shared queue. After the kill the survivor read it back once (turn 4)
    # and named its own queue, where turn 5 went.
    history = await handle.fetch_history()
    queues = [
        (a.activity_type.name, a.task_queue.name)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        for a in [e.activity_task_scheduled_event_attributes]
    ]
    survivor_own = queues[-1][1]
    assert survivor_own.startswith(f"{task_queue}@")
    assert f"-{survivor.pid}-" in survivor_own
    assert queues == [
        ("call_llm", task_queue),  # turn 1 (its calculator call answered inline)
        ("call_llm", task_queue),  # turn 2
        ("run_tool", task_queue),  # the warm-up step
        ("call_llm", task_queue),  # turn 3
        ("run_tool", task_queue),  # the slow step: its worker killed, retried on the survivor
        ("call_llm", task_queue),  # turn 4: the one transcript read
        ("call_llm", survivor_own),  # turn 5
    ], queues

    survivor.stop()
    (stopped,) = [
        r
        for r in read_lines(workdir / WORKER_JOURNAL)
        if r["event"] == "stopped" and r["pid"] == survivor.pid
    ]
    assert stopped["misses"] == 1, stopped
