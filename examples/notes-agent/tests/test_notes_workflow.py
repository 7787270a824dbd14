"""The notes agent as Temporal runs it: the real workflow and activities on the time-skipping
server, a scripted model in place of an LLM, the real tools writing to SQLite. The fixtures
(`run_agent`, `agents`) are agentic-loop's test kit; conftest.py gives it the notes tools."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from agentic_loop import AgentInput, AgentStatus, AgentWorkflow, ApprovalRequest
from agentic_loop.testing import Agents, RunAgent, Script, wait_for_approval
from temporalio.api.enums.v1 import EventType

from notes_support import NotesDB
from scenarios import ADD_GROCERIES, APPROVED_DELETION, GOAL, rate_limited


async def test_the_agent_adds_a_note_and_answers(run_agent: RunAgent, notes_db: NotesDB) -> None:
    """The script the command-line test also plays: the model calls add_note, the note lands
    in SQLite under the call's idempotency key, and the answer quotes the id the tool gave."""
    run = await run_agent(ADD_GROCERIES.script, ADD_GROCERIES.input)
    assert run.result.status == AgentStatus.COMPLETED
    assert run.result.answer == "I saved your groceries note (note 1): milk, eggs."
    call = run.assert_called("add_note", title="groceries", body="milk, eggs")
    answer = run.tool_result(call)
    assert answer is not None
    assert answer.content == "Saved note 1: groceries."
    [(note_id, title, body, added_by, deleted_by)] = notes_db.rows()
    assert (note_id, title, body, deleted_by) == (1, "groceries", "milk, eggs", None)
    # Derived from the workflow id, so it names this run (and is the same on every retry).
    assert run.handle.id in added_by
    run.assert_history_under(64_000)
    await run.assert_replays()


@pytest.mark.time_skipping
async def test_a_rate_limited_model_is_retried_in_skipped_time(
    run_agent: RunAgent, notes_db: NotesDB
) -> None:
    """Two 429s that ask to wait ten minutes each are retried as the provider asks: the first
    LLM call takes three attempts and twenty minutes of workflow time, the test a few seconds,
    and the note is saved once."""
    scenario = rate_limited(retry_after=600)
    started = time.monotonic()
    run = await run_agent(scenario.script, scenario.input)
    assert time.monotonic() - started < 30
    assert run.result.status == AgentStatus.COMPLETED
    run.assert_attempts(1, 3)
    run.assert_attempts(2, 1)
    assert run.elapsed >= timedelta(minutes=20)
    assert [row[:3] for row in notes_db.rows()] == [(1, "groceries", "milk, eggs")]


async def test_the_model_corrects_a_call_the_tool_refused(
    run_agent: RunAgent, notes_db: NotesDB
) -> None:
    """add_note refuses a blank title with a ToolError: the model reads the sentence as the
    call's error result, writes nothing, and its corrected call saves exactly one note."""
    script = (
        Script()
        .calls("add_note", title="  ", body="milk, eggs")
        .expect(role="tool", is_error=True, contains="the title is empty")
        .calls("add_note", title="groceries", body="milk, eggs")
        .expect(role="tool", is_error=False, contains="Saved note 1")
        .answers("Saved as note 1.")
    )
    run = await run_agent(script, AgentInput(goal=GOAL))
    assert (run.result.status, run.result.answer) == (AgentStatus.COMPLETED, "Saved as note 1.")
    refusal = run.tool_result(run.assert_called("add_note", title="  "))
    assert refusal is not None
    assert refusal.is_error
    assert "give the note a short title" in refusal.content
    assert [row[:3] for row in notes_db.rows()] == [(1, "groceries", "milk, eggs")]


async def test_the_model_corrects_a_call_without_a_title(
    run_agent: RunAgent, notes_db: NotesDB
) -> None:
    """A call missing `title` never reaches the tool: it comes back to the model as an error
    naming the argument, and the corrected call then saves exactly one note."""
    script = (
        Script()
        .calls("add_note", body="milk, eggs")
        .expect(role="tool", is_error=True, contains="'title': required")
        .calls("add_note", title="groceries", body="milk, eggs")
        .expect(role="tool", is_error=False, contains="Saved note 1")
        .answers("Saved as note 1.")
    )
    run = await run_agent(script, AgentInput(goal=GOAL))
    assert run.result.status == AgentStatus.COMPLETED
    refusal = run.tool_result(run.tool_calls[0])
    assert refusal is not None
    assert "invalid arguments: 'title': required, but missing" in refusal.content
    assert [row[:3] for row in notes_db.rows()] == [(1, "groceries", "milk, eggs")]


async def test_an_approved_deletion_waits_for_the_person_then_runs(
    agents: Agents, notes_db: NotesDB
) -> None:
    """With nothing but @tool(approval=True), delete_note waits, the note untouched, until a
    person approves that call by its id; then it runs, the model reads its result, and the
    decision is in the transcript."""
    APPROVED_DELETION.seed_notes()
    handle = await agents.start(APPROVED_DELETION.script, APPROVED_DELETION.input)
    waiting = await wait_for_approval(handle)
    assert [(c.id, c.name) for c in waiting] == [("del1", "delete_note")]
    assert notes_db.rows()[0][4] is None  # not deleted before the decision

    assert await handle.execute_update(AgentWorkflow.approve, ApprovalRequest("del1")) == ["del1"]
    run = await agents.finish(handle)
    assert (run.result.status, run.result.answer) == (AgentStatus.COMPLETED, "Note 1 is deleted.")
    assert notes_db.rows()[0][4] is not None
    [decision] = [m for m in run.transcript if m.role == "approval"]
    assert decision.tool_call_id == "del1"
    assert not decision.is_error


async def test_a_rejected_deletion_never_runs_and_the_model_hears_why(
    agents: Agents, notes_db: NotesDB
) -> None:
    """Rejected, delete_note does not run: the note stays, and the person's reason reaches the
    model as the call's error result. (Here the input lists it in approval_required as well,
    the way any tool, flagged or not, is put behind a person for one run.)"""
    APPROVED_DELETION.seed_notes()
    script = (
        Script()
        .calls("delete_note", call_id="del1", note_id=1)
        .expect(role="tool", is_error=True, contains="keep my groceries")
        .answers("I left note 1 alone.")
    )
    handle = await agents.start(
        script, AgentInput(goal="Delete note 1", approval_required=["delete_note"])
    )
    await wait_for_approval(handle)
    await handle.execute_update(
        AgentWorkflow.reject, ApprovalRequest("del1", reason="keep my groceries")
    )
    run = await agents.finish(handle)
    assert (run.result.status, run.result.answer) == (AgentStatus.COMPLETED, "I left note 1 alone.")
    assert notes_db.rows() == [(1, "groceries", "milk", "seed-1", None)]


async def test_word_count_is_answered_inside_the_llm_activity(run_agent: RunAgent) -> None:
    """Listed in inline_tools, pure word_count runs in the LLM activity: the model gets its
    answer, and no run_tool activity is scheduled for it."""
    script = (
        Script()
        .calls("word_count", text="milk, eggs, bread")
        .expect(role="tool", is_error=False, contains="3")
        .answers("3.")
    )
    run = await run_agent(script, AgentInput(goal="How many words?", inline_tools=["word_count"]))
    assert run.result.answer == "3."
    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in run.history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == ["call_llm", "call_llm"]
