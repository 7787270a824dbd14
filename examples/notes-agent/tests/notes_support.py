"""Helpers of the notes agent's tests (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
# Recorded from real runs of scenarios.py by record_histories.py; replayed by test_notes_replay.
HISTORIES = Path(__file__).parent / "histories"


class NotesDB:
    """The test's database file, read behind the tools' back, as a person would check it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self) -> list[tuple[Any, ...]]:
        """Every row, deleted notes included: (id, title, body, added_by, deleted_by)."""
        if not self.path.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            return db.execute(
                "SELECT id, title, body, added_by, deleted_by FROM notes ORDER BY id"
            ).fetchall()


# Variables that could steer the command away from what a test sets up (another Temporal, a
# real OpenAI, other tools or models), or send its 127.0.0.1 traffic through a proxy.
_DROPPED_PREFIXES = ("TEMPORAL_", "OPENAI_", "AGENTIC_LOOP_")
_PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
# `run` starts an embedded Temporal dev server, which takes a few seconds; a hung run must
# still end the test.
COMMAND_DEADLINE_SECONDS = 120


def agentic_loop_command() -> str:
    """The stock `agentic-loop` script of the environment the tests run in."""
    scripts = sysconfig.get_path("scripts")
    found = shutil.which("agentic-loop", path=scripts)
    if found is None:
        raise FileNotFoundError(
            f"there is no agentic-loop command in {scripts}; install agentic-loop (and this "
            "example) into the environment that runs pytest"
        )
    return found


def run_command(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`agentic-loop ARGS` in `cwd`, with this environment minus what could steer it, plus
    `env`."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_DROPPED_PREFIXES) and name.lower() not in _PROXIES
    }
    environment.update(NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1", **env)
    return subprocess.run(
        [agentic_loop_command(), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_DEADLINE_SECONDS,
        check=False,
    )


def explain(done: subprocess.CompletedProcess[str]) -> str:
    """What an assertion on a command shows when it fails."""
    return f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
