"""The stock `agentic-loop` command, run as a person runs it, serving the installed example:
nothing here imports the tools, the command finds them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from notes_support import DATA, NotesDB, agentic_loop_command, explain, run_command

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


def _server_address(directory: Path) -> tuple[subprocess.Popen[str], str]:
    """`agentic-loop server` on free ports of 127.0.0.1, once it answers; (process, address)."""
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    port, ui_port = ports
    server = subprocess.Popen(
        [agentic_loop_command(), "server", "--port", str(port), "--ui-port", str(ui_port),
         "--db-filename", str(directory / "temporal.db")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(1.0)  # the frontend listens before the namespace is ready
                return server, f"127.0.0.1:{port}"
        time.sleep(0.2)
    server.kill()
    raise AssertionError("agentic-loop server did not listen within 60 s")


@pytest.mark.parametrize(
    "tools", [[], ["--tools", "notes_agent.tools"]], ids=["entry-point", "--tools"]
)
def test_a_stock_worker_serves_the_notes_tools(tmp_path: Path, tools: list[str]) -> None:
    """A stock `agentic-loop worker` process (tools found through the entry point, or named
    with --tools as well) answers a run started elsewhere with `run --no-worker`: the note is
    saved by the worker's add_note."""
    db = NotesDB(tmp_path / "notes.db")
    server, address = _server_address(tmp_path)
    script = f"scripted:{DATA / 'add_groceries.json'}"
    worker = subprocess.Popen(
        [agentic_loop_command(), "worker", *tools],
        cwd=tmp_path,
        env={**os.environ, "TEMPORAL_ADDRESS": address, "AGENTIC_LOOP_LLM": script,
             "NOTES_DB": str(db.path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        done = run_command(
            "run", "--no-worker", "--json", GOAL, cwd=tmp_path, TEMPORAL_ADDRESS=address
        )
    finally:
        worker.terminate()
        server.terminate()
        worker.wait(timeout=30)
        server.wait(timeout=30)
    assert done.returncode == 0, explain(done)
    assert json.loads(done.stdout)["status"] == "completed"
    assert [row[:3] for row in db.rows()] == [(1, "groceries", "milk, eggs")]
