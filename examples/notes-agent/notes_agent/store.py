"""The notes, in one SQLite file: the path in NOTES_DB, else notes.db in the current directory.

A connection per call, opened in the thread the call runs in (@tool runs a sync function in a
thread), so nothing is shared between threads and nothing needs closing at shutdown.

Writes are keyed by the calling tool's idempotency key, which Temporal keeps the same across
retries and worker crashes: an activity can run again after its write was committed (the
worker died before reporting), and the second run must find that write, not make another.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = "notes.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    added_by TEXT NOT NULL UNIQUE,
    -- A deleted note keeps its row, marked with the deleting call's key, so that a retried
    -- delete can tell "I already did this" from "there is no such note".
    deleted_by TEXT
)
"""


@dataclass(frozen=True)
class Note:
    id: int
    title: str
    body: str


def path() -> Path:
    """Read on every call, so a test (or a long-lived worker) can point it elsewhere."""
    return Path(os.environ.get("NOTES_DB") or DEFAULT_PATH)


@contextlib.contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """A connection inside one transaction: committed when the block ends, rolled back if it
    raises, closed either way (sqlite3's own context manager does not close)."""
    # A generous busy timeout: several tool calls of one turn run at once, in threads.
    connection = sqlite3.connect(path(), timeout=30)
    try:
        with connection:
            connection.execute(_SCHEMA)
            yield connection
    finally:
        connection.close()


def add(title: str, body: str, *, key: str) -> Note:
    """The note written under `key`: written now, or found if an earlier try wrote it."""
    with connect() as db:
        db.execute(
            "INSERT OR IGNORE INTO notes (title, body, added_by) VALUES (?, ?, ?)",
            (title, body, key),
        )
        # The stored note, not the arguments: on a retry, what the first try wrote is the truth.
        row = db.execute("SELECT id, title, body FROM notes WHERE added_by = ?", (key,)).fetchone()
    return Note(*row)


def notes() -> list[Note]:
    with connect() as db:
        rows = db.execute("SELECT id, title, body FROM notes WHERE deleted_by IS NULL ORDER BY id")
        return [Note(*row) for row in rows]


def search(query: str) -> list[Note]:
    """Notes whose title or body contains `query`, ignoring case (ASCII letters only, as
    SQLite's LIKE does); % and _ in the query match themselves."""
    pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with connect() as db:
        rows = db.execute(
            "SELECT id, title, body FROM notes WHERE deleted_by IS NULL"
            " AND (title LIKE ?1 ESCAPE '\\' OR body LIKE ?1 ESCAPE '\\') ORDER BY id",
            (pattern,),
        )
        return [Note(*row) for row in rows]


def delete(note_id: int, *, key: str) -> Note | None:
    """Delete a note under `key`; the note deleted (now, or by an earlier try with the same
    key), or None when there is no such note to delete."""
    with connect() as db:
        db.execute(
            "UPDATE notes SET deleted_by = ? WHERE id = ? AND deleted_by IS NULL", (key, note_id)
        )
        row = db.execute(
            "SELECT id, title, body FROM notes WHERE id = ? AND deleted_by = ?", (note_id, key)
        ).fetchone()
    return Note(*row) if row is not None else None
