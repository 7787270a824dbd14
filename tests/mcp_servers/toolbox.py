"""An MCP server for the tests, written with the MCP SDK: `python toolbox.py stdio` or
`python toolbox.py http PORT`. Every call it receives is journaled, with its `_meta`
idempotency key and this process's pid, to the JSON-lines file $TOOLBOX_JOURNAL, so a test
sees what reached the server across restarts of the worker and of the server itself.

Tools: add (a plain call), refuse (a tool error), crash_once (kills this process in the
middle of the call the first time, per $TOOLBOX_JOURNAL's directory), record (a side effect
that holds for a while before it answers: the window for a SIGKILL), slow (takes long, and
journals whether it was cancelled).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

IDEMPOTENCY_META_KEY = "agentic-loop/idempotency-key"
JOURNAL = Path(os.environ.get("TOOLBOX_JOURNAL", "toolbox.jsonl"))

server = MCPServer(os.environ.get("TOOLBOX_NAME", "toolbox"))


def journal(event: str, ctx: Context, **fields: Any) -> None:
    meta = ctx.request_context.meta or {}
    record = {"event": event, "key": meta.get(IDEMPOTENCY_META_KEY), "pid": os.getpid()}
    line = json.dumps({**record, **fields}) + "\n"
    # One O_APPEND write per record, so lines of two processes never interleave.
    fd = os.open(JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@server.tool()
def add(a: int, b: int, ctx: Context) -> str:
    """Add two integers."""
    journal("add", ctx, a=a, b=b)
    return f"{a} + {b} = {a + b}"


@server.tool()
def refuse(reason: str, ctx: Context) -> str:
    """Always fails, with the reason given."""
    journal("refuse", ctx)
    raise ToolError(f"refused: {reason}")


@server.tool()
def crash_once(ctx: Context) -> str:
    """Kill this server in the middle of the call, the first time only."""
    marker = JOURNAL.with_suffix(".crashed")
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        journal("crash", ctx)
        os._exit(1)
    journal("survived", ctx)
    return "survived the crash"


@server.tool()
async def record(entry: str, hold: float, ctx: Context) -> str:
    """Record an entry, then take `hold` seconds to answer."""
    journal("record", ctx, entry=entry)
    await asyncio.sleep(hold)
    journal("recorded", ctx, entry=entry)
    return f"recorded {entry}"


@server.tool()
async def slow(seconds: float, ctx: Context) -> str:
    """Take this many seconds to answer."""
    journal("slow", ctx)
    try:
        await asyncio.sleep(seconds)
    except BaseException:
        journal("slow cancelled", ctx)
        raise
    journal("slow done", ctx)
    return "slow done"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
