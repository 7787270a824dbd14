"""A closed run's transcript, read off its history here rather than by queries.

A query to a closed run is answered by a worker that replays the run's whole history first,
for every query: reading a long conversation page by page replayed each run once per page
(a 10,000-step conversation took about 90 s). Here the history is fetched once and replayed
once, in this process, and the transcript is read off the workflow's state at the end of the
replay, exactly as the query would have read it.

Most closed runs are not even replayed: their messages are read off what the history
recorded (recorded.py), in a fraction of a replay's time. From a run that continued as new a
reader takes only the messages it sent to the LLM, which its LLM requests hold; a run that
ended with a result holds its newest messages in the result. Only a run that ended otherwise
(cancelled, terminated, timed out), or whose history does not vouch for every message asked
for, is replayed.

Reading a conversation from its first message needs every run, newest to first, and each
run's history names the run it continued from: `ClosedRuns` then fetches and reads the runs
before the one asked for while that one is read, a few at a time. The SDK's core replays in
threads of its own, so two replays overlap where one waits on the other's Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from agentic_loop.temporal.connection import client_only_settings
from agentic_loop.temporal.payload_store import noting_failures
from agentic_loop.temporal.plugin import AgentLoopPlugin, plugin_of, replayer
from agentic_loop.transcript.reader import ClosedRunUnreadable as ClosedRunUnreadable  # moved there
from agentic_loop.transcript.recorded import recorded_page
from agentic_loop.types import TranscriptPage, TranscriptRequest

# The whole-run page each replayed run ended with, by run id, until its reader takes it.
_pages: dict[str, TranscriptPage] = {}
_judges: weakref.WeakKeyDictionary[AgentLoopPlugin, Replayer] = weakref.WeakKeyDictionary()


class _KeepTranscript(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _Inbound


class _Inbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        try:
            return await super().execute_workflow(input)
        finally:
            # However the run ended (a result, a failure, continue-as-new, cancelled), its
            # state is what a query would have been answered from.
            page = workflow.instance().transcript(TranscriptRequest(start=0))
            _pages[workflow.info().run_id] = page


# The plugin a client connected `client_only` replays with, made of its settings when first
# needed (connect_client).
_standalone: weakref.WeakKeyDictionary[Client, AgentLoopPlugin] = weakref.WeakKeyDictionary()


def _plugin_for(client: Client) -> AgentLoopPlugin:
    settings = client_only_settings(client)
    if settings is None:
        return plugin_of(client)
    if client not in _standalone:
        _standalone[client] = AgentLoopPlugin(settings)
    return _standalone[client]


def _judge(client: Client) -> Replayer:
    """The replayer for this client's plugin, made once: a conversation's closed runs are
    read one after another with it."""
    plugin = _plugin_for(client)
    if plugin not in _judges:
        # Unsandboxed: the replay runs code this process already trusts and imported, and the
        # state it ends with must be reachable from here. The history decides, as in a worker.
        _judges[plugin] = replayer(
            plugin, workflow_runner=UnsandboxedWorkflowRunner(), interceptors=[_KeepTranscript()]
        )
    return _judges[plugin]


@dataclass
class _Read:
    """A fetched run: its history, and its page: all its messages (replayed, or read off its
    result and requests) or, with `sent_only`, the ones it sent to the LLM."""

    history: WorkflowHistory
    page: TranscriptPage
    sent_only: bool


def _continued_from(history: WorkflowHistory) -> str | None:
    """The run this run continued as new from, as its first event says; None for a first run."""
    if not history.events:
        return None
    first = history.events[0]
    if first.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        return None
    return first.workflow_execution_started_event_attributes.continued_execution_run_id or None


class ClosedRuns:
    """The closed runs of one conversation, read as a reader walks back through them. With
    `read_ahead` above 1, asking for a run also starts fetching and replaying the runs before
    it, `read_ahead` replays at a time at most, for a reader that will want them all (one
    reading from the first message). Use as `async with`: runs read ahead and never asked for
    are cancelled at the end."""

    def __init__(self, client: Client, workflow_id: str, read_ahead: int = 1) -> None:
        self._client = client
        self._workflow_id = workflow_id
        self._read_ahead = max(1, read_ahead)
        self._replays = asyncio.Semaphore(self._read_ahead)
        self._reading: dict[str, asyncio.Task[_Read]] = {}

    async def page(self, run_id: str, end: int | None = None) -> TranscriptPage:
        """The messages the closed run `run_id` holds before global index `end` (None: all
        of them), with where the earlier ones are. A run that continued as new may come back
        with `total` at the last message it sent (at or past `end`), read off its requests."""
        task = self._reading.get(run_id) or self._start(run_id)
        try:
            read = await task
        finally:
            self._reading.pop(run_id, None)
        if not read.sent_only or (end is not None and end <= read.page.total):
            return read.page
        async with self._replays:
            return await _replayed_page(self._client, self._workflow_id, run_id, read.history)

    def _start(self, run_id: str) -> asyncio.Task[_Read]:
        task = asyncio.create_task(self._read(run_id))
        self._reading[run_id] = task
        return task

    async def _read(self, run_id: str) -> _Read:
        handle = self._client.get_workflow_handle(self._workflow_id, run_id=run_id)
        history = await handle.fetch_history()
        previous = _continued_from(history)
        if (
            self._read_ahead > 1
            and previous is not None
            and previous not in self._reading
            and len(self._reading) < self._read_ahead
        ):
            self._start(previous)  # a run that continued as new is closed
        try:
            recorded = await recorded_page(history, self._client.data_converter)
        except Exception:
            # A payload that does not decode (its store gone, say): the replay says what.
            recorded = None
        if recorded is not None:
            return _Read(history, recorded.page, sent_only=not recorded.whole)
        async with self._replays:
            page = await _replayed_page(self._client, self._workflow_id, run_id, history)
        return _Read(history, page, sent_only=False)

    async def __aenter__(self) -> ClosedRuns:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        tasks, self._reading = list(self._reading.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task  # its failure was nobody's question


async def _replayed_page(
    client: Client, workflow_id: str, run_id: str, history: WorkflowHistory
) -> TranscriptPage:
    with noting_failures() as unreadable:
        result = await _judge(client).replay_workflow(history, raise_on_replay_failure=False)
    # A replay that failed part way still leaves a page (the run's state when it was evicted):
    # only part of the transcript, so never returned.
    page = _pages.pop(run_id, None)
    if unreadable:
        # A payload kept outside history that cannot be had: the replay reports it as a
        # nondeterminism error (the SDK failed the run where the history went on), but this
        # is what went wrong, and it says which payload and store.
        raise unreadable[0]
    if page is None or result.replay_failure is not None:
        why = result.replay_failure or "the replay ended before the workflow did"
        raise ClosedRunUnreadable(f"cannot read run {run_id} of {workflow_id} back: {why}")
    return page
