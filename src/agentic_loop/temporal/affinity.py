"""Worker affinity: a conversation's next LLM call goes to the worker that holds its transcript.

The transcript cache is per process. With several workers on one task queue, an LLM call that
lands on another worker than the previous step's must read the transcript from the workflow
(a `transcript` query through the server). So every worker that runs `call_llm` also polls a
task queue of its own (`<queue>@<host>-<pid>-<random>`), and an LLM turn can name it
(`LLMTurn.worker_queue`): the workflow schedules the conversation's next LLM call and its
tool calls there, and goes back to the shared queue when that worker does not pick them up
within `AgentInput.worker_affinity_seconds` (it is gone, or far behind). This is the pattern
of Temporal's "worker-specific task queues" sample; the workflow side is
workflow/affinity.py. (Often the server keeps a conversation on one worker by itself, by
starting its activities eagerly on the worker of its sticky workflow task: docs/production.md.)

A worker names its own queue only when it helps (the rules are Affinity.queue_for's): once a
call came to it without its conversation (or from the first call on, with
AGENTIC_LOOP_WORKER_AFFINITY=always); and only:
- while another worker polls the shared queue (it asks the server every PEER_CHECK_SECONDS).
  Alone on it, every call comes back to it anyway, and an activity on the workflow's own
  queue can start eagerly (handed to the worker in the answer to its workflow task, with no
  trip through the queue): 17% more steps/s at C=100 (docs/performance.md, tuning);
- while it has room: past `capacity` LLM calls in flight, its turns name no queue, so a
  conversation is not held to a worker that would keep it waiting (it goes to the shared
  queue, where any worker can take it). Under overload that keeps calls from timing out on
  a busy worker's queue only to wait again on the shared one.

AgentLoopPlugin starts the extra worker next to each worker it runs (`affinity_worker`);
AGENTIC_LOOP_WORKER_AFFINITY=off or `AgentLoopPlugin(worker_affinity="off")` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import DescribeTaskQueueMode, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue, TaskQueueVersionSelection
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

logger = logging.getLogger(__name__)

# Separates the shared queue's name from the worker's part in a worker-specific queue.
SEPARATOR = "@"
# How often a worker asks the server who else polls its shared queue: soon after it starts
# (so a second worker is found within about a second), then every PEER_CHECK_SECONDS. The
# server lists a poller for a few minutes after its last poll, so a worker that died keeps
# affinity on for that long (harmless: its conversations move on after one wait).
FIRST_PEER_CHECK_SECONDS = 0.25
PEER_CHECK_SECONDS = 5.0


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
        # Shared queues that other workers poll too (the only ones worth a queue of our own).
        self.shared_with_others: set[str] = set()
        # Route a conversation from its first call on, not only once a call came to the
        # wrong worker (queue_for).
        self.route_first_calls = False

    def add(self, task_queue: str, own_queue: str) -> None:
        self._queues[task_queue] = own_queue
        self._queues[own_queue] = own_queue

    def remove(self, own_queue: str) -> None:
        for key in [k for k, v in self._queues.items() if v == own_queue]:
            del self._queues[key]

    def active(self, task_queue: str) -> str | None:
        """This worker's own queue for activities from `task_queue`, if it has one and another
        worker polls the shared queue (room aside); else None."""
        own = self._queues.get(task_queue)
        if own is None:
            return None
        shared = next((k for k, v in self._queues.items() if v == own and k != own), None)
        return own if shared in self.shared_with_others else None

    def queue_for(self, task_queue: str, *, read_back: bool, first: bool) -> str | None:
        """The queue the turn of a call from `task_queue` names (None: any worker, through the
        shared queue). `read_back`: the call had to read its transcript back; `first`: it was
        the conversation's first call, which has nothing to read.

        - A call that came by this worker's own queue keeps the conversation here.
        - One that came through the shared queue and found its conversation here was most
          likely handed to this worker by the server, which starts a workflow's activity
          eagerly on the worker that ran its workflow task (the conversation's own, sticky):
          naming no queue keeps that, and saves the trip through a queue that routing costs
          (some 20% a step on the bench). So does a first call, unless `route_first_calls`
          (AGENTIC_LOOP_WORKER_AFFINITY=always, for a server that starts no activity eagerly).
        - One that had to read its transcript back came to the wrong worker: from now on the
          conversation is routed here.

        Never past `capacity` LLM calls in flight (see the module's docstring)."""
        own = self.active(task_queue)
        if own is None or self.in_flight > self.capacity:
            return None
        if task_queue == own or read_back or (first and self.route_first_calls):
            return own
        return None

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
    config = worker.config(active_config=True)  # with what the plugins added (activities)
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
    identity = config.get("identity") or config["client"].identity
    async with own_worker:
        affinity.add(shared, own)
        logger.debug("worker affinity: %s also polls %s", shared, own)
        watching = asyncio.create_task(_watch_peers(config["client"], shared, identity, affinity))
        try:
            yield
        finally:
            watching.cancel()
            affinity.remove(own)
            affinity.shared_with_others.discard(shared)


async def other_pollers(client: Client, task_queue: str, identity: str) -> set[str]:
    """Identities of the workers other than `identity` that polled `task_queue` for
    activities lately, as the server lists them, from every partition of the queue: the
    default mode of DescribeTaskQueue lists only the pollers the root partition saw, and with
    several workers some never reach it (their polls wait on other partitions). The server
    answers the enhanced mode (deprecated, and still the one that covers every partition)
    for unversioned queues; where it does not, the default mode's answer."""
    try:
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                api_mode=DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
                versions=TaskQueueVersionSelection(unversioned=True),
                task_queue_types=[TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
                report_pollers=True,
            )
        )
    except RPCError as e:
        if e.status not in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.UNIMPLEMENTED):
            raise
    else:
        return {
            poller.identity
            for version in answer.versions_info.values()
            for kind in version.types_info.values()
            for poller in kind.pollers
        } - {identity}
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return {p.identity for p in answer.pollers} - {identity}


async def _watch_peers(client: Client, shared: str, identity: str, affinity: Affinity) -> None:
    """Keep `affinity.shared_with_others` up to date for `shared`, until cancelled. A failed
    check keeps the last answer (a server that is restarting says nothing new)."""
    wait = FIRST_PEER_CHECK_SECONDS
    while True:
        try:
            others = await other_pollers(client, shared, identity)
        except RPCError as e:
            if e.status == RPCStatusCode.UNIMPLEMENTED:
                return  # the time-skipping test server: no worker there sees another
            logger.debug("worker affinity: could not list the pollers of %s: %s", shared, e)
        except Exception:
            # Never let the watch end on a surprise: affinity would stay as it is for good.
            logger.warning(
                "worker affinity: listing the pollers of %s failed", shared, exc_info=True
            )
        else:
            if others:
                affinity.shared_with_others.add(shared)
            else:
                affinity.shared_with_others.discard(shared)
        await asyncio.sleep(wait)
        wait = min(wait * 2, PEER_CHECK_SECONDS)
