"""The notes agent as Temporal runs it: the real workflow and activities on the time-skipping
server, a scripted model in place of an LLM, the real tools writing to SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agentic_loop import (
    AgentInput,
    AgentProgress,
    AgentStatus,
    AgentWorkflow,
    ApprovalRequest,
    ScriptedLLM,
)
from temporalio.api.enums.v1 import EventType

from notes_agent import store
from notes_support import DATA, Handle, NotesDB, StartAgent

GOAL = "Add a note titled groceries: milk, eggs"


async def until(handle: Handle, check: Callable[[AgentProgress], bool]) -> AgentProgress:
    """Poll the `status` query until `check` holds; a deadline rather than a fixed sleep.
    (Only `result()` lets the test server skip time, so polling never skips an approval's
    timeout.)"""
    async with asyncio.timeout(20):
        while True:
            progress = await handle.query(AgentWorkflow.status)
            if check(progress):
                return progress
            await asyncio.sleep(0.05)


async def test_the_agent_adds_a_note_and_answers(
    start_agent: StartAgent, notes_db: NotesDB
) -> None:
    """The script the command-line test also uses: the model calls add_note, the note lands in
    SQLite under the call's idempotency key, and the answer quotes the id the tool returned."""
    llm = ScriptedLLM.from_file(DATA / "add_groceries.json")
    handle = await start_agent(llm, AgentInput(goal=GOAL))
    result = await handle.result()
    assert result.status == AgentStatus.COMPLETED
    assert result.answer == "I saved your groceries note (note 1): milk, eggs."
    assert result.tool_calls == 1
    [(note_id, title, body, added_by, deleted_by)] = notes_db.rows()
    assert (note_id, title, body, deleted_by) == (1, "groceries", "milk, eggs", None)
    # Derived from the workflow id, so it names this run (and is the same on every retry).
    assert handle.id in added_by


async def test_the_model_corrects_a_call_without_a_title(
    start_agent: StartAgent, notes_db: NotesDB
) -> None:
    """A call missing `title` writes nothing and comes back to the model as an error naming
    the argument; the model's corrected call then saves exactly one note."""
    llm = ScriptedLLM.from_data(
        {
            "turns": [
                {"tool_calls": [{"name": "add_note", "arguments": {"body": "milk, eggs"}}]},
                {
                    "expect": {"role": "tool", "is_error": True, "contains": "'title': required"},
                    "tool_calls": [
                        {
                            "name": "add_note",
                            "arguments": {"title": "groceries", "body": "milk, eggs"},
                        }
                    ],
                },
                {
                    "expect": {"role": "tool", "is_error": False, "contains": "Saved note 1"},
                    "content": "Saved as note 1.",
                },
            ]
        }
    )
    result = await (await start_agent(llm, AgentInput(goal=GOAL))).result()
    assert (result.status, result.answer) == (AgentStatus.COMPLETED, "Saved as note 1.")
    refusal = llm.requests[1].messages[-1]
    assert refusal.is_error
    assert "invalid arguments: 'title': required, but missing" in refusal.content
    assert [row[:3] for row in notes_db.rows()] == [(1, "groceries", "milk, eggs")]


def deletion(second_turn: dict[str, object]) -> ScriptedLLM:
    """A model that asks to delete note 1, then plays `second_turn` on the tool's result."""
    return ScriptedLLM.from_data(
        {
            "turns": [
                {
                    "expect": {"role": "user"},
                    "tool_calls": [
                        {"id": "del1", "name": "delete_note", "arguments": {"note_id": 1}}
                    ],
                },
                second_turn,
            ]
        }
    )


async def test_an_approved_deletion_waits_for_the_person_then_runs(
    start_agent: StartAgent, notes_db: NotesDB
) -> None:
    """With nothing but @tool(approval=True), delete_note waits, the note untouched, until a
    person approves that call by its id; then it runs and the model reads its result."""
    store.add("groceries", "milk", key="seed")
    llm = deletion(
        {
            "expect": {"role": "tool", "is_error": False, "contains": "Deleted note 1"},
            "content": "Note 1 is deleted.",
        }
    )
    handle = await start_agent(llm, AgentInput(goal="Delete note 1"))
    waiting = await until(handle, lambda p: bool(p.awaiting_approval))
    assert [(c.id, c.name) for c in waiting.awaiting_approval] == [("del1", "delete_note")]
    assert notes_db.rows()[0][4] is None  # not deleted before the decision

    decided = await handle.execute_update(AgentWorkflow.approve, ApprovalRequest("del1"))
    assert decided == ["del1"]
    result = await handle.result()
    assert (result.status, result.answer) == (AgentStatus.COMPLETED, "Note 1 is deleted.")
    assert notes_db.rows()[0][4] is not None


async def test_a_rejected_deletion_never_runs_and_the_model_hears_why(
    start_agent: StartAgent, notes_db: NotesDB
) -> None:
    """Rejected, delete_note does not run: the note stays, and the person's reason reaches the
    model as the call's error result. (Here the input lists it in approval_required as well,
    the way any tool, flagged or not, is put behind a person for one run.)"""
    store.add("groceries", "milk", key="seed")
    llm = deletion(
        {
            "expect": {"role": "tool", "is_error": True, "contains": "keep my groceries"},
            "content": "I left note 1 alone.",
        }
    )
    handle = await start_agent(
        llm, AgentInput(goal="Delete note 1", approval_required=["delete_note"])
    )
    await until(handle, lambda p: bool(p.awaiting_approval))
    await handle.execute_update(
        AgentWorkflow.reject, ApprovalRequest("del1", reason="keep my groceries")
    )
    result = await handle.result()
    assert (result.status, result.answer) == (AgentStatus.COMPLETED, "I left note 1 alone.")
    assert notes_db.rows() == [(1, "groceries", "milk", "seed", None)]


async def test_word_count_is_answered_inside_the_llm_activity(start_agent: StartAgent) -> None:
    """Listed in inline_tools, pure word_count runs in the LLM activity: the model gets its
    answer, and no run_tool activity is scheduled for it."""
    llm = ScriptedLLM.from_data(
        {
            "turns": [
                {
                    "tool_calls": [
                        {"name": "word_count", "arguments": {"text": "milk, eggs, bread"}}
                    ]
                },
                {"expect": {"role": "tool", "is_error": False, "contains": "3"}, "content": "3."},
            ]
        }
    )
    handle = await start_agent(llm, AgentInput(goal="How many words?", inline_tools=["word_count"]))
    assert (await handle.result()).answer == "3."
    history = await handle.fetch_history()
    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == ["call_llm", "call_llm"]
