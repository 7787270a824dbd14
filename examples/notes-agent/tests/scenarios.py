"""The notes agent's scenarios: each a scripted model, an input, and what a person does while
it runs. The workflow tests run them on the time-skipping server; record_histories.py records
their histories from real runs, which test_notes_replay replays against every change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agentic_loop import AgentInput, AgentResult, AgentStatus, AgentWorkflow, ApprovalRequest
from agentic_loop.testing import Script, wait_for_approval
from temporalio.client import WorkflowHandle

from notes_agent import store
from notes_support import DATA

Handle = WorkflowHandle[Any, AgentResult]
# What a person does while the agent runs: approve a call, send a message.
Driver = Callable[[Handle], Awaitable[None]]

GOAL = "Add a note titled groceries: milk, eggs"


@dataclass(frozen=True)
class Scenario:
    name: str
    script: Script
    input: AgentInput
    # Notes in the store before the run: (title, body).
    notes: tuple[tuple[str, str], ...] = ()
    drive: Driver | None = None
    expect: AgentStatus = AgentStatus.COMPLETED

    def seed_notes(self) -> None:
        for number, (title, body) in enumerate(self.notes, 1):
            store.add(title, body, key=f"seed-{number}")


# The script `agentic-loop run` plays in the command-line test, too.
ADD_GROCERIES = Scenario(
    "add_groceries", Script.from_file(DATA / "add_groceries.json"), AgentInput(GOAL)
)


def rate_limited(retry_after: float) -> Scenario:
    """The provider answers 429 twice (retry-after `retry_after` seconds), then the model
    saves the note: on the time-skipping server any back-off takes no time; recorded on the
    dev server, a short one keeps the recording quick."""
    script = (
        Script("Rate-limited twice, then add_note and an answer.")
        .fails(429, times=2, retry_after=retry_after, message="Rate limit reached")
        .calls("add_note", call_id="add1", title="groceries", body="milk, eggs")
        .expect(role="tool", is_error=False, contains="Saved note 1")
        .answers("Saved your groceries note as note 1.")
    )
    return Scenario("rate_limited", script, AgentInput(GOAL))


async def approve_deletion(handle: Handle) -> None:
    [call] = await wait_for_approval(handle)
    await handle.execute_update(AgentWorkflow.approve, ApprovalRequest(call.id))


APPROVED_DELETION = Scenario(
    "approved_deletion",
    Script("delete_note waits for a person, who approves; then the model answers.")
    .expect(role="user")
    .calls("delete_note", call_id="del1", note_id=1)
    .expect(role="tool", is_error=False, contains="Deleted note 1")
    .answers("Note 1 is deleted."),
    AgentInput("Delete note 1"),
    notes=(("groceries", "milk"),),
    drive=approve_deletion,
)

# What record_histories.py records (the 429's retry-after kept short for the dev server).
RECORDED = [ADD_GROCERIES, rate_limited(retry_after=1.0), APPROVED_DELETION]
