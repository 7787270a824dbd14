"""An MCP server of the notes keeper's own: reminders, kept in a JSON file. Any program that
speaks MCP can use it; the agent does through the servers file `mcp.json` beside this package:

    agentic-loop run --mcp examples/notes-agent/mcp.json "Remind me to buy milk tomorrow"

Its tools reach the model as `reminders__remind` and `reminders__list_reminders`. agentic-loop
sends each call's idempotency key in the request's `_meta`, the same key on every retry of
the call, so `remind` files a retried call's reminder once, as `add_note` does with
`ctx.idempotency_key`. Run over stdio (`python -m notes_agent.reminders_server`), the way the
worker starts it; the file is $REMINDERS_FILE, by default reminders.json in the current
directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

# Where agentic-loop puts the key (agentic_loop.tools.mcp.IDEMPOTENCY_META_KEY); a server
# need not import agentic-loop to read it.
IDEMPOTENCY_META_KEY = "agentic-loop/idempotency-key"

server = MCPServer("reminders")


def _path() -> Path:
    return Path(os.environ.get("REMINDERS_FILE", "reminders.json"))


def _load() -> list[dict[str, Any]]:
    path = _path()
    reminders: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    return reminders


def _save(reminders: list[dict[str, Any]]) -> None:
    # Written whole and renamed into place, so a crash never leaves half a file.
    path = _path()
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(reminders, ensure_ascii=False, indent=1))
    partial.replace(path)


@server.tool()
def remind(text: str, when: str, ctx: Context) -> str:
    """File a reminder.

    Args:
        text: What to be reminded of, e.g. "buy milk".
        when: When, in the user's words, e.g. "tomorrow morning".
    """
    if not text.strip():
        raise ToolError("the reminder's text is empty; say what to be reminded of")
    key = (ctx.request_context.meta or {}).get(IDEMPOTENCY_META_KEY)
    reminders = _load()
    for reminder in reminders:
        if key is not None and reminder["key"] == key:
            return f"Reminder {reminder['id']} is filed: {reminder['text']} ({reminder['when']})."
    reminder = {"id": len(reminders) + 1, "text": text, "when": when, "key": key}
    _save([*reminders, reminder])
    return f"Reminder {reminder['id']} is filed: {text} ({when})."


@server.tool()
def list_reminders() -> str:
    """Every reminder filed, oldest first, as JSON."""
    shown = [{k: r[k] for k in ("id", "text", "when")} for r in _load()]
    return json.dumps(shown, ensure_ascii=False)


def main() -> None:
    server.run("stdio")


if __name__ == "__main__":
    main()
