"""The tools on their own, called as the worker calls them: arguments as the model sent them,
a ToolContext, and the answer as the text the model will read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agentic_loop import Tool, ToolCall, ToolContext, ToolError, ToolRegistry, build_registry

from notes_agent.tools import (
    TOOLS,
    add_note,
    delete_note,
    list_notes,
    search_notes,
    word_count,
)
from notes_support import NotesDB


def ctx(key: str) -> ToolContext:
    """The context of one call; its idempotency key is what Temporal keeps across retries."""
    return ToolContext(workflow_id="notes-test", idempotency_key=key)


async def call(tool: Tool, key: str = "call-1", **args: Any) -> str:
    return await tool.run(args, ctx(key))


async def add(title: str, body: str, key: str) -> str:
    return await call(add_note, key, title=title, body=body)


async def test_add_note_writes_a_row_and_answers_with_its_id(notes_db: NotesDB) -> None:
    """add_note stores the title and body under the call's key and names the new note's id."""
    answer = await add("groceries", "milk, eggs", key="k1")
    assert answer == "Saved note 1: groceries."
    assert notes_db.rows() == [(1, "groceries", "milk, eggs", "k1", None)]


async def test_a_retried_add_note_writes_once_and_answers_the_same(notes_db: NotesDB) -> None:
    """A second call with the same idempotency key (a Temporal retry) writes no second row
    and reports the note the first call saved."""
    first = await add("groceries", "milk, eggs", key="k1")
    again = await add("groceries", "milk, eggs", key="k1")
    assert again == first
    assert len(notes_db.rows()) == 1


async def test_two_calls_with_two_keys_write_two_notes(notes_db: NotesDB) -> None:
    """Different keys are different calls: the same note asked for twice is saved twice."""
    assert await add("groceries", "milk", key="k1") == "Saved note 1: groceries."
    assert await add("groceries", "milk", key="k2") == "Saved note 2: groceries."
    assert [row[3] for row in notes_db.rows()] == ["k1", "k2"]


@pytest.mark.parametrize("title", ["", "   "])
async def test_an_empty_title_is_refused_with_a_sentence(notes_db: NotesDB, title: str) -> None:
    """An empty (or blank) title is a ToolError the model can act on, and nothing is written."""
    with pytest.raises(ToolError, match="the title is empty; give the note a short title"):
        await add(title, "milk", key="k1")
    assert notes_db.rows() == []


async def test_a_missing_title_reaches_the_model_as_an_error_result() -> None:
    """Arguments without `title` never reach the function: the registry answers the model with
    an error result naming the missing argument."""
    registry = ToolRegistry(TOOLS)
    call_ = ToolCall(id="c1", name="add_note", arguments='{"body": "milk"}')
    result = await registry.execute(call_, ctx("k1"))
    assert result.is_error
    assert "'title': required, but missing" in result.content


async def test_list_notes_gives_every_note_oldest_first() -> None:
    """list_notes answers JSON the model can read: each note's id, title and body, in order."""
    assert json.loads(await call(list_notes)) == []
    await add("groceries", "milk, eggs", key="k1")
    await add("call mum", "Sunday", key="k2")
    assert json.loads(await call(list_notes)) == [
        {"id": 1, "title": "groceries", "body": "milk, eggs"},
        {"id": 2, "title": "call mum", "body": "Sunday"},
    ]


async def test_search_notes_matches_title_or_body_ignoring_case() -> None:
    """search_notes finds text in a title or a body, in any case, and only those notes."""
    await add("Groceries", "milk, eggs", key="k1")
    await add("call mum", "about the MILKMAN", key="k2")
    await add("taxes", "due in April", key="k3")
    found = json.loads(await call(search_notes, query="milk"))
    assert [note["id"] for note in found] == [1, 2]
    assert [n["id"] for n in json.loads(await call(search_notes, query="groceries"))] == [1]


async def test_search_notes_takes_percent_and_underscore_literally() -> None:
    """A query's % and _ match only themselves, not any text as in a LIKE pattern."""
    await add("sale", "50% off", key="k1")
    await add("plain", "nothing here", key="k2")
    assert [n["id"] for n in json.loads(await call(search_notes, query="%"))] == [1]
    assert json.loads(await call(search_notes, query="_")) == []


async def test_an_empty_search_is_refused_with_a_sentence() -> None:
    """An empty query is a ToolError that points the model at list_notes."""
    with pytest.raises(ToolError, match="call list_notes for every note"):
        await call(search_notes, query=" ")


@pytest.mark.parametrize(("text", "words"), [("milk, eggs and bread", 4), ("", 0), (" a\nb ", 2)])
async def test_word_count_counts_words(text: str, words: int) -> None:
    """word_count counts the runs of characters between whitespace."""
    assert await call(word_count, text=text) == str(words)


async def test_delete_note_deletes_and_a_retry_answers_the_same(notes_db: NotesDB) -> None:
    """delete_note removes the note from what the tools show; retried with the same key (the
    first try's answer was lost) it reports the same deletion instead of an unknown id."""
    await add("groceries", "milk", key="k1")
    answer = await call(delete_note, "d1", note_id=1)
    assert answer == "Deleted note 1: groceries."
    assert await call(delete_note, "d1", note_id=1) == answer
    assert json.loads(await call(list_notes)) == []
    assert json.loads(await call(search_notes, query="milk")) == []
    assert notes_db.rows()[0][4] == "d1"


@pytest.mark.parametrize("deleted_before", [False, True])
async def test_deleting_a_note_that_is_not_there_is_refused(deleted_before: bool) -> None:
    """An id that was never used, or a note another call already deleted, is a ToolError
    telling the model where to find the ids."""
    await add("groceries", "milk", key="k1")
    if deleted_before:
        await call(delete_note, "d1", note_id=1)
    missing = 1 if deleted_before else 7
    with pytest.raises(ToolError, match=f"there is no note {missing}; call list_notes"):
        await call(delete_note, "d2", note_id=missing)


def test_the_model_sees_title_and_body_but_not_the_context() -> None:
    """add_note's schema asks for exactly title and body, both required strings with the
    docstring's descriptions; the ToolContext parameter is not part of it."""
    function = add_note.schema()["function"]
    assert function["name"] == "add_note"
    assert function["description"] == "Save a new note."
    parameters = function["parameters"]
    assert parameters["type"] == "object"
    assert list(parameters["properties"]) == ["title", "body"]
    assert parameters["required"] == ["title", "body"]
    assert parameters["additionalProperties"] is False
    assert parameters["properties"]["title"] == {
        "description": 'A few words naming the note, e.g. "groceries".',
        "type": "string",
    }
    assert "ctx" not in json.dumps(parameters)


def test_word_count_is_pure_and_only_delete_note_needs_approval() -> None:
    """The flags a worker reads: word_count may run inline, delete_note waits for a person."""
    assert {t.name for t in TOOLS if t.pure} == {"word_count"}
    assert {t.name for t in TOOLS if t.approval} == {"delete_note"}


def test_the_entry_point_offers_the_notes_tools() -> None:
    """The installed package's `agentic_loop.tools` entry point loads TOOLS, labelled with it:
    what a stock worker serves without --tools."""
    registry = build_registry(builtins=False)
    notes = [t for t in registry if t.source.startswith("entry point notes (notes-agent ")]
    assert [t.name for t in notes] == [t.name for t in TOOLS]


async def test_without_notes_db_the_store_is_notes_db_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With NOTES_DB unset, the notes go to notes.db in the directory the worker runs in."""
    monkeypatch.delenv("NOTES_DB")
    monkeypatch.chdir(tmp_path)
    await add("groceries", "milk", key="k1")
    assert NotesDB(tmp_path / "notes.db").rows() == [(1, "groceries", "milk", "k1", None)]
