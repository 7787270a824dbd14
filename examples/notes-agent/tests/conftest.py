"""Fixtures: a notes database of each test's own, and the plugin the agentic-loop test kit
runs agents with (its fixtures `run_agent`, `agents` and `agent_env` come with agentic-loop:
installing it registers them with pytest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from agentic_loop import AgentLoopPlugin, Settings

from notes_agent.tools import TOOLS
from notes_support import NotesDB


@pytest.fixture(autouse=True)
def notes_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NotesDB:
    """Every test gets an empty database of its own (so none writes notes.db where pytest
    was started), through the NOTES_DB variable the tools read."""
    path = tmp_path / "notes.db"
    monkeypatch.setenv("NOTES_DB", str(path))
    return NotesDB(path)


@pytest.fixture(scope="session")
def agent_plugin() -> AgentLoopPlugin:
    """The kit's workers serve the notes tools, and its replays judge histories with this
    plugin too. Settings() rather than the environment's: a tester's AGENTIC_LOOP_* or
    TEMPORAL_* variables must not change what the tests run."""
    return AgentLoopPlugin(Settings(), tools=TOOLS)
