"""The stock `agentic-loop` command, run as a person runs it, serving the installed example:
nothing here imports the tools, the command finds them."""

from __future__ import annotations

import json
from pathlib import Path

from notes_support import DATA, NotesDB, explain, run_command

GOAL = "Add a note titled groceries: milk, eggs"


def test_tools_lists_the_notes_tools_from_the_entry_point(tmp_path: Path) -> None:
    """`agentic-loop tools --json`, with no --tools, shows add_note as found through the
    installed package's entry point, with the schema and flags a worker would serve."""
    done = run_command("tools", "--json", cwd=tmp_path)
    assert done.returncode == 0, explain(done)
    rows = {row["name"]: row for row in map(json.loads, done.stdout.splitlines())}
    add_note = rows["add_note"]
    assert add_note["source"].startswith("entry point notes (notes-agent "), add_note
    assert add_note["parameters"]["required"] == ["title", "body"]
    assert (rows["word_count"]["pure"], rows["delete_note"]["approval"]) == (True, True)


def test_run_with_a_scripted_model_saves_the_note(tmp_path: Path) -> None:
    """`agentic-loop run --tools notes_agent.tools` with the scripted model of
    tests/data/add_groceries.json completes (exit 0), and the note is in NOTES_DB."""
    db = NotesDB(tmp_path / "notes.db")
    done = run_command(
        "run",
        "--tools",
        "notes_agent.tools",
        "--json",
        GOAL,
        cwd=tmp_path,
        AGENTIC_LOOP_LLM=f"scripted:{DATA / 'add_groceries.json'}",
        NOTES_DB=str(db.path),
    )
    assert done.returncode == 0, explain(done)
    result = json.loads(done.stdout)
    assert (result["status"], result["tool_calls"]) == ("completed", 1)
    assert result["answer"] == "I saved your groceries note (note 1): milk, eggs."
    assert [row[:3] for row in db.rows()] == [(1, "groceries", "milk, eggs")]
