"""Worker affinity: a conversation's next LLM call goes to the worker that holds its transcript.

The transcript cache is per process. With several workers on one task queue, an LLM call that
lands on another worker than the previous step's must read the transcript from the workflow
(a `transcript` query through the server). So every worker that runs `call_llm` also polls a
task queue of its own (`<queue>@<host>-<pid>-<random>`), and each LLM turn says which one
(`LLMTurn.worker_queue`): the workflow schedules the conversation's next LLM call and its
tool calls there, and goes back to the shared queue when that worker does not pick them up
within `AgentInput.worker_affinity_seconds` (it is gone, or far behind). This is the pattern
of Temporal's "worker-specific task queues" sample; the workflow side is
workflow/affinity.py.

A worker offers its own queue only while it has room: past `capacity` LLM calls in flight in
this process, its turns name no queue, so a conversation is not held to a worker that would
keep it waiting (it goes to the shared queue, where any worker can take it). Under overload
that keeps calls from timing out on a busy worker's queue only to wait again on the shared one.

AgentLoopPlugin starts the extra worker next to each worker it runs (`AffinityWorkers`);
AGENTIC_LOOP_WORKER_AFFINITY=0 or `AgentLoopPlugin(worker_affinity=False)` turns it off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

from temporalio.worker import Worker

logger = logging.getLogger(__name__)

# Separates the shared queue's name from the worker's part in a worker-specific queue.
SEPARATOR = "@"


def worker_queue_name(task_queue: str) -> str:
    """A name no other worker (of this host or another, now or after a restart) will use:
    the shared queue's, then host, process and a random part, readable in the UI."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"{task_queue}{SEPARATOR}{host}-{os.getpid()}-{secrets.token_hex(3)}"


class Affinity:
    """The worker-specific queues of one LLM activity object (so of one transcript cache):
    shared queue -> own queue, and how many of its calls are in flight; the activity asks it
    which queue to name in its turn."""

    def __init__(self, capacity: int = 200) -> None:
        self.capacity = capacity
        self._queues: dict[str, str] = {}
        self.in_flight = 0

    def add(self, task_queue: str, own_queue: str) -> None:
        self._queues[task_queue] = own_queue
        self._queues[own_queue] = own_queue

    def remove(self, own_queue: str) -> None:
        for key in [k for k, v in self._queues.items() if v == own_queue]:
            del self._queues[key]

    def is_own(self, task_queue: str) -> bool:
        return self._queues.get(task_queue) == task_queue

    def queue_for(self, task_queue: str) -> str | None:
        """The queue a turn of an activity from `task_queue` names: this worker's own, if it
        has one for that queue and room for more conversations; else None (any worker)."""
        if self.in_flight > self.capacity:
            return None
        return self._queues.get(task_queue)

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """Count one LLM call in flight for as long as the block runs."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


def _activity_owner(activities: list[Callable[..., Any]], name: str) -> Any:
    for fn in activities:
        if getattr(fn, "__name__", None) == name and hasattr(fn, "__self__"):
            return fn.__self__
    return None


@contextlib.asynccontextmanager
async def affinity_worker(
    worker: Worker, affinity_of: Callable[[Any], Affinity | None], mark: Callable[[str], None]
) -> AsyncIterator[None]:
    """Run, beside `worker`, a worker of the same client polling a queue of its own with the
    same `call_llm` and `run_tool` (so the same cache), for as long as the block runs.
    `affinity_of` gives the Affinity of a `call_llm`'s owner (None: not ours, or affinity off);
    `mark` is told the new queue's name first, so the plugin configures that worker for
    activities only. No-op for a worker without our LLM activity."""
    config = worker.config()
    activities = list(config.get("activities") or ())
    llm = _activity_owner(activities, "call_llm")
    affinity = affinity_of(llm) if llm is not None else None
    if affinity is None:
        yield
        return
    tools = _activity_owner(activities, "run_tool")
    shared = config["task_queue"]
    own = worker_queue_name(shared)
    mark(own)
    served = [llm.call_llm] + ([tools.run_tool] if tools is not None else [])
    limit = config.get("max_concurrent_activities") or 200
    own_worker = Worker(
        config["client"],
        task_queue=own,
        activities=served,
        max_concurrent_activities=limit,
        activity_executor=config.get("activity_executor"),
        graceful_shutdown_timeout=config.get("graceful_shutdown_timeout", timedelta()),
    )
    affinity.capacity = limit
    async with own_worker:
        affinity.add(shared, own)
        logger.debug("worker affinity: %s also polls %s", shared, own)
        try:
            yield
        finally:
            affinity.remove(own)
