"""Reading a conversation back from its workflow, across continue-as-new runs.

A run holds the messages from its `base` on; earlier ones are in the run it continued from
(`previous_run_id`). Pages are bounded so that no query answer nears the payload limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.client import Client, WorkflowExecutionStatus

from agentic_loop.types import Message, TranscriptPage, TranscriptRequest

if TYPE_CHECKING:
    from agentic_loop.transcript.closed_runs import ClosedRuns

PAGE_SIZE = 500
# Closed runs read at once when a conversation is read from its first message
# (closed_runs.py, ClosedRuns).
READ_AHEAD = 3


class ClosedRunUnreadable(RuntimeError):
    """A closed run whose history this program's workflow code cannot replay to its end (it
    was recorded by incompatible code, say): its transcript is not read back in part. Here,
    not in closed_runs.py, so that catching it costs no import of the replayer."""


async def read_transcript(
    client: Client,
    workflow_id: str,
    start: int = 0,
    end: int | None = None,
    *,
    run_id: str | None = None,
    replay_closed_runs: bool = True,
) -> list[Message]:
    """messages[start:end] of the conversation whose newest run is `run_id` (None: the latest
    run of `workflow_id`), following the chain of runs back as far as needed: a running run
    answers the `transcript` query page by page; a closed one is read here, once, off its
    history (closed_runs.py: what it recorded, or else a replay), unless `replay_closed_runs`
    is False (a worker's own activity, which must not spend its event loop on a replay, asks
    the queries instead)."""
    if not replay_closed_runs:
        return await _read(client, workflow_id, start, end, run_id, None)
    # Here, not at the top: the replayer needs the plugin, which needs the activities, which
    # read transcripts through this module.
    from agentic_loop.transcript.closed_runs import ClosedRuns

    # From the first message every run is needed: the ones before are read ahead.
    async with ClosedRuns(client, workflow_id, READ_AHEAD if start == 0 else 1) as closed_runs:
        return await _read(client, workflow_id, start, end, run_id, closed_runs)


async def _read(
    client: Client,
    workflow_id: str,
    start: int,
    end: int | None,
    run_id: str | None,
    closed_runs: ClosedRuns | None,
) -> list[Message]:
    """read_transcript's walk back; closed runs are read through `closed_runs`, or queried
    where it is None."""
    runs: list[list[Message]] = []  # newest run first
    while True:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        closed = None
        if closed_runs is not None:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                closed = await closed_runs.page(description.run_id, end)
        # An empty page first: where this run's messages start, how many there are, and who
        # holds the earlier ones.
        head: TranscriptPage = closed or await handle.query(
            "transcript", TranscriptRequest(start=0, end=0), result_type=TranscriptPage
        )
        stop = head.total if end is None else min(end, head.total)
        held: list[Message] = []
        position = max(start, head.base)
        if closed is not None:
            held = closed.messages[position - closed.base : max(position, stop) - closed.base]
            position = stop
        while position < stop:
            page: TranscriptPage = await handle.query(
                "transcript",
                TranscriptRequest(start=position, end=min(stop, position + PAGE_SIZE)),
                result_type=TranscriptPage,
            )
            if not page.messages:
                raise RuntimeError(f"workflow {workflow_id} holds fewer than {stop} messages")
            held.extend(page.messages)
            position += len(page.messages)
        runs.append(held)
        if start >= head.base or head.previous_run_id is None:
            break
        end = head.base if end is None else min(end, head.base)
        run_id = head.previous_run_id
    return [message for held in reversed(runs) for message in held]
