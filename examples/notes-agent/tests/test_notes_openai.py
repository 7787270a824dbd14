"""The stock command against an OpenAI-compatible server on 127.0.0.1: real HTTP through the
OpenAI provider, the embedded Temporal dev server, the notes tools; no network beyond
this machine."""

from __future__ import annotations

import json
from pathlib import Path

from notes_support import DATA, NotesDB, explain, run_command
from openai_server import COMPLETIONS, ChatCompletionsServer

GOAL = "Add a note titled groceries: milk, eggs"
# The recorded bodies of agentic-loop's fixtures/openai/ with the tool call made add_note's
# (tests/data/README.md says what changed).
ANSWERS = DATA / "openai"


def test_run_against_an_openai_compatible_server_saves_the_note(tmp_path: Path) -> None:
    """Told to add a note by a server that asks for add_note and then answers, `agentic-loop
    run` exits 0, the note is in NOTES_DB, and the second request carries the tool's result
    for the call the first answer made."""
    bodies = [
        json.loads((ANSWERS / name).read_text(encoding="utf-8"))
        for name in ("add_note_tool_call.json", "add_note_answer.json")
    ]
    call_id = bodies[0]["choices"][0]["message"]["tool_calls"][0]["id"]
    db = NotesDB(tmp_path / "notes.db")
    with ChatCompletionsServer(bodies) as server:
        done = run_command(
            "run",
            "--tools",
            "notes_agent.tools",
            "--json",
            GOAL,
            cwd=tmp_path,
            OPENAI_API_KEY="test-key",
            OPENAI_BASE_URL=server.base_url,
            NOTES_DB=str(db.path),
        )
    assert done.returncode == 0, explain(done)
    assert json.loads(done.stdout)["answer"] == bodies[1]["choices"][0]["message"]["content"]
    assert [row[:3] for row in db.rows()] == [(1, "groceries", "milk, eggs")]

    assert [path for path, _ in server.requests] == [COMPLETIONS, COMPLETIONS]
    first, second = (body for _, body in server.requests)
    offered = {t["function"]["name"] for t in first["tools"]}
    assert {"add_note", "list_notes", "search_notes", "word_count", "delete_note"} <= offered
    [tool_message] = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_message["tool_call_id"] == call_id
    assert tool_message["content"] == "Saved note 1: groceries."
