"""The notes keeper's MCP server (notes_agent/reminders_server.py), started over stdio as a
worker starts it from mcp.json, its tools offered to the model beside the notes tools."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from agentic_loop import AgentInput, AgentStatus, ToolContext, ToolRegistry
from agentic_loop.testing import RunAgent, Script
from agentic_loop.tools.mcp import McpServers, load_mcp_config
from agentic_loop.types import ToolCall

from notes_agent.tools import TOOLS

MCP_FILE = Path(__file__).resolve().parents[1] / "mcp.json"


@pytest.fixture
def reminders_file(tmp_path: Path) -> Path:
    return tmp_path / "reminders.json"


@pytest_asyncio.fixture
async def reminders(tmp_path: Path, reminders_file: Path) -> AsyncIterator[McpServers]:
    """The servers of mcp.json, with this interpreter and a reminders file of the test's own
    (a worker run from a shell gets `python` from PATH and the file in its directory)."""
    entry = json.loads(MCP_FILE.read_text())["mcpServers"]["reminders"]
    entry = {**entry, "command": sys.executable, "env": {"REMINDERS_FILE": str(reminders_file)}}
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"reminders": entry}}))
    servers = McpServers(load_mcp_config(config))
    try:
        yield servers
    finally:
        await servers.aclose()


def _filed(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def test_the_servers_file_names_the_reminders_server() -> None:
    """mcp.json is in the format `--mcp` takes, with one stdio server."""
    config = load_mcp_config(MCP_FILE)
    assert list(config.enabled) == ["reminders"]


async def test_the_agent_files_a_reminder_through_the_mcp_server(
    run_agent: RunAgent, reminders: McpServers, reminders_file: Path
) -> None:
    """The model calls the server's `remind` under its prefixed name: the server files it
    under the call's idempotency key (from the request's _meta), the model reads the answer,
    and the run, whose first turn recorded the server's tools, replays."""
    tools = ToolRegistry([*TOOLS, *await reminders.start()])
    assert {"reminders__remind", "reminders__list_reminders", "add_note"} <= set(tools.names())
    script = (
        Script()
        .calls("reminders__remind", text="buy milk", when="tomorrow")
        .expect(role="tool", contains="Reminder 1 is filed")
        .answers("I will remind you to buy milk tomorrow.")
    )
    run = await run_agent(script, AgentInput(goal="Remind me to buy milk tomorrow"), tools=tools)
    assert run.result.status == AgentStatus.COMPLETED
    [reminder] = _filed(reminders_file)
    assert (reminder["text"], reminder["when"]) == ("buy milk", "tomorrow")
    assert reminder["key"].startswith(f"{run.handle.id}/1/")
    await run.assert_replays()


async def test_a_retried_call_files_its_reminder_once(
    reminders: McpServers, reminders_file: Path
) -> None:
    """Two attempts of one call (the same idempotency key) file one reminder and answer alike;
    another call files another."""
    tools = ToolRegistry(await reminders.start())
    call = ToolCall(
        id="c1", name="reminders__remind", arguments='{"text": "call mum", "when": "6pm"}'
    )
    first = await tools.execute(call, ToolContext("wf", "wf/1/c1"))
    again = await tools.execute(call, ToolContext("wf", "wf/1/c1"))
    other = await tools.execute(call, ToolContext("wf", "wf/2/c1"))
    assert first.content == again.content == "Reminder 1 is filed: call mum (6pm)."
    assert other.content == "Reminder 2 is filed: call mum (6pm)."
    assert len(_filed(reminders_file)) == 2
