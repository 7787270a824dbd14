"""Reading a conversation back from its workflow, across continue-as-new runs.

A run holds the messages from its `base` on; earlier ones are in the run it continued from
(`previous_run_id`). Pages are bounded so that no query answer nears the payload limits.
"""

from __future__ import annotations

from temporalio.client import Client

from agentic_loop.types import Message, TranscriptPage, TranscriptRequest

PAGE_SIZE = 500


async def read_transcript(
    client: Client,
    workflow_id: str,
    start: int = 0,
    end: int | None = None,
    *,
    run_id: str | None = None,
) -> list[Message]:
    """messages[start:end] of the conversation whose newest run is `run_id` (None: the latest
    run of `workflow_id`), in pages, following the chain of runs back as far as needed."""
    runs: list[list[Message]] = []  # newest run first
    while True:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        # An empty page first: where this run's messages start, how many there are, and who
        # holds the earlier ones.
        head: TranscriptPage = await handle.query(
            "transcript", TranscriptRequest(start=0, end=0), result_type=TranscriptPage
        )
        stop = head.total if end is None else min(end, head.total)
        held: list[Message] = []
        position = max(start, head.base)
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
