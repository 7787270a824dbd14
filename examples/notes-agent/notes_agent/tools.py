"""The notes keeper's tools, as the model sees them: each docstring is the description it reads,
each `Args:` entry the description of that argument.

A mistake the model can fix (an empty title, a note id that does not exist) raises ToolError:
the model gets the sentence back as the call's error result and can try again. Any other
exception is a fault of ours, which Temporal retries.
"""

from __future__ import annotations

from agentic_loop import Tool, ToolContext, ToolError, tool

from notes_agent import store
from notes_agent.store import Note


@tool
def add_note(title: str, body: str, ctx: ToolContext) -> str:
    """Save a new note.

    Args:
        title: A few words naming the note, e.g. "groceries".
        body: The text of the note.
    """
    title = title.strip()
    if not title:
        raise ToolError("the title is empty; give the note a short title, e.g. 'groceries'")
    # A retried call (same key) finds the note its first try saved, and answers alike.
    note = store.add(title, body, key=ctx.idempotency_key)
    return f"Saved note {note.id}: {note.title}."


@tool
def list_notes() -> list[Note]:
    """Every note, oldest first, with its id, title and body."""
    return store.notes()


@tool
def search_notes(query: str) -> list[Note]:
    """The notes whose title or body contains some text, ignoring case.

    Args:
        query: The text to look for, e.g. "milk".
    """
    if not query.strip():
        raise ToolError(
            "the query is empty; give a word to look for, or call list_notes for every note"
        )
    return store.search(query.strip())


# Pure: no store, no clock, so the LLM activity may answer it itself, without an activity of
# its own, when the agent's input lists it in inline_tools.
@tool(pure=True)
def word_count(text: str) -> int:
    """The number of words in a text (runs of characters between spaces).

    Args:
        text: The text to count the words of.
    """
    return len(text.split())


@tool(approval=True)
def delete_note(note_id: int, ctx: ToolContext) -> str:
    """Delete a note for good. A person approves each deletion before it happens.

    Args:
        note_id: The id of the note, as add_note, list_notes or search_notes gave it.
    """
    note = store.delete(note_id, key=ctx.idempotency_key)
    if note is None:
        raise ToolError(
            f"there is no note {note_id}; call list_notes or search_notes for the ids there are"
        )
    return f"Deleted note {note.id}: {note.title}."


# What `--tools notes_agent.tools` and the `agentic_loop.tools` entry point load.
TOOLS: list[Tool] = [add_note, list_notes, search_notes, word_count, delete_note]
