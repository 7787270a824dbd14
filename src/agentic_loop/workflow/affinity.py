"""The workflow's side of worker affinity (the worker's is temporal/affinity.py).

An LLM turn may name the worker-specific queue of the worker that made it
(`LLMTurn.worker_queue`; when is the worker's choice: temporal/affinity.py). The
conversation's next LLM call, and its tool calls, are scheduled there, so they meet the
transcript that worker holds, with a limit on how long they may wait to be picked up
(`AgentInput.worker_affinity_seconds`). A call that waited that long (its worker is gone, or
far behind) goes to the shared queue, where any worker takes it, and the conversation follows
whichever worker answers next. A worker killed in the middle of a call is first noticed by the
call's heartbeat timeout; its retry then waits the same limit.

Everything here decides from history (the turns' recorded `worker_queue`), so replay follows
it. No `workflow.patched()` marker is needed, and none is recorded (it would cost an event in
every run): a run recorded before worker affinity has no `worker_queue` in any turn, so this
code schedules exactly the commands it recorded (the replay suite's old histories prove it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType

from agentic_loop.types import AgentInput, LLMTurn
from agentic_loop.workflow.state import ConversationState

T = TypeVar("T")


def worker_missed(error: ActivityError) -> bool:
    """Whether the call timed out waiting to be picked up (no worker took it in time)."""
    cause = error.cause
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START


def worker_queue(state: ConversationState, agent_input: AgentInput) -> str | None:
    """The queue the conversation's next call goes to; None for the shared one."""
    if agent_input.worker_affinity_seconds is None:
        return None
    return state.worker_queue


def follow(state: ConversationState, turn: LLMTurn) -> None:
    """After a turn: the worker that made it holds the conversation now (None: it offers
    no queue of its own, so any worker)."""
    state.worker_queue = turn.worker_queue


async def on_worker(
    state: ConversationState,
    agent_input: AgentInput,
    schedule: Callable[..., Awaitable[T]],
    what: str,
) -> T:
    """`schedule(**options)` with the options that send it to the conversation's worker; on the
    shared queue instead when there is none, or when that worker did not pick it up in time."""
    queue = worker_queue(state, agent_input)
    if queue is None or agent_input.worker_affinity_seconds is None:
        return await schedule()
    wait = timedelta(seconds=agent_input.worker_affinity_seconds)
    try:
        return await schedule(task_queue=queue, schedule_to_start_timeout=wait)
    except ActivityError as e:
        if not worker_missed(e):
            raise
    workflow.logger.warning(
        "step %d: %s was not picked up by worker queue %s within %s s; any worker takes it",
        state.turns,
        what,
        queue,
        agent_input.worker_affinity_seconds,
        extra={"step": state.turns},
    )
    if state.worker_queue == queue:
        state.worker_queue = None
    return await schedule()
