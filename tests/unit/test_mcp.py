"""MCP servers as tools: the servers file, tool names, results, and the sessions, against the
toolbox server (tests/mcp_servers/toolbox.py, written with the MCP SDK) over stdio and over
streamable HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp_types import CallToolResult, EmbeddedResource, ImageContent, TextContent
from mcp_types import TextResourceContents as TextResource
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agentic_loop.config import ConfigError, Settings
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.testing import Agents, Script, wait_for_approval
from agentic_loop.tools import ToolContext, ToolRegistry
from agentic_loop.tools.mcp.config import McpConfigError, load_mcp_config, parse_mcp_config
from agentic_loop.tools.mcp.connection import McpServerUnavailable
from agentic_loop.tools.mcp.servers import McpServers, McpToolFailed, result_text, tool_name
from agentic_loop.types import ApprovalRequest, ToolCall, ToolResult
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from mcp_servers.support import HttpToolbox, journal, stdio_server, wait_for, write_config

# ---- the servers file ------------------------------------------------------------------------


def test_a_file_in_the_common_format_gives_stdio_and_http_servers() -> None:
    """command/args/env make a stdio server, url a streamable HTTP one, with our own keys."""
    config = parse_mcp_config(
        json.dumps(
            {
                "mcpServers": {
                    "notes": {"command": "python", "args": ["s.py"], "env": {"K": "v"}},
                    "web": {"url": "http://127.0.0.1:9/mcp", "approval": ["delete"]},
                    "off": {"command": "x", "disabled": True},
                }
            }
        ),
        "mcp.json",
    )
    notes, web = config.enabled["notes"], config.enabled["web"]
    assert list(config.enabled) == ["notes", "web"]
    assert (notes.type, getattr(notes, "args", None), getattr(notes, "env", None)) == (
        "stdio",
        ["s.py"],
        {"K": "v"},
    )
    assert (web.type, getattr(web, "url", None)) == ("http", "http://127.0.0.1:9/mcp")
    assert web.needs_approval("delete")
    assert not web.needs_approval("read")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON"),
        ("[]", 'expected an object {"mcpServers"'),
        ('{"mcpServers": {"a": {"args": []}}}', "server 'a' needs a 'command' (stdio) or a 'url'"),
        ('{"mcpServers": {"a": {"command": "x", "comand": "y"}}}', "server 'a': comand: unknown"),
        ('{"mcpServers": {"a": {"command": "x", "url": "http://h"}}}', "both 'command' and 'url'"),
        ('{"mcpServers": {"a__b": {"command": "x"}}}', "server name 'a__b' cannot start tool"),
        ('{"mcpServers": {"a": {"url": "ftp://h"}}}', "url: 'ftp://h' is not an http://"),
        ('{"mcpServers": {"a": {"command": "x", "timeout_seconds": 0}}}', "greater than 0"),
    ],
)
def test_a_bad_servers_file_is_one_line_naming_the_file_and_the_problem(
    text: str, problem: str
) -> None:
    """Each mistake is a ConfigError of one line that names the file and what is wrong."""
    with pytest.raises(McpConfigError) as raised:
        parse_mcp_config(text, "/etc/mcp.json")
    message = str(raised.value)
    assert isinstance(raised.value, ConfigError)
    assert message.startswith("MCP servers file /etc/mcp.json: ")
    assert problem in message
    assert "\n" not in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """A file that cannot be read is a ConfigError naming it, not an OSError."""
    with pytest.raises(McpConfigError, match=r"missing\.json: cannot read it"):
        load_mcp_config(tmp_path / "missing.json")


def test_the_environment_names_the_file() -> None:
    """AGENTIC_LOOP_MCP is read by Settings (and nowhere else), as a path."""
    assert Settings.from_env({"AGENTIC_LOOP_MCP": "~/mcp.json"}).mcp_file == (
        Path("~/mcp.json").expanduser()
    )
    assert Settings.from_env({}).mcp_file is None


# ---- names and results ------------------------------------------------------------------------


def test_tool_names_carry_the_server_and_stay_callable() -> None:
    """A tool is named <server>__<tool>; characters the model's API refuses become '_', and a
    name past 64 characters is cut with a fingerprint, so two long ones stay apart."""
    assert tool_name("notes", "add_note") == "notes__add_note"
    assert tool_name("fs", "dir.list/all") == "fs__dir_list_all"
    long_a, long_b = tool_name("s", "x" * 80 + "a"), tool_name("s", "x" * 80 + "b")
    assert len(long_a) == len(long_b) == 64
    assert long_a != long_b


def test_what_the_model_sees_of_a_result() -> None:
    """Text blocks are joined; what is not text is a placeholder; structured content stands
    in when there is nothing else."""
    mixed = CallToolResult(
        content=[
            TextContent(type="text", text="one"),
            ImageContent(type="image", data="AAAA", mime_type="image/png"),
            EmbeddedResource(
                type="resource", resource=TextResource(uri="file:///n.txt", text="two")
            ),
        ]
    )
    assert result_text(mixed) == "one\n[image (image/png), not shown]\ntwo"
    assert result_text(CallToolResult(content=[], structured_content={"n": 1})) == '{"n": 1}'


# ---- sessions with real servers ----------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session", params=["stdio", "http"])
async def toolbox(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[McpServers, Path, HttpToolbox | None]]:
    """The toolbox over one transport, as a worker's McpServers; its journal; the HTTP
    server (None over stdio, where the worker starts the server itself)."""
    http: HttpToolbox | None = None
    if request.param == "stdio":
        journal_path = tmp_path / "stdio.jsonl"
        entry = stdio_server(journal_path)
    else:
        http = HttpToolbox(tmp_path / "http.jsonl")
        await http.start()
        journal_path, entry = http.journal, http.entry()
    servers = McpServers(load_mcp_config(write_config(tmp_path / "mcp.json", {"box": entry})))
    try:
        yield servers, journal_path, http
    finally:
        await servers.aclose()
        if http is not None:
            http.stop()


async def _call(servers: McpServers, tool: str, key: str, **arguments: Any) -> ToolResult:
    registry = ToolRegistry(await servers.start())
    call = ToolCall(id="c1", name=f"box__{tool}", arguments=json.dumps(arguments))
    return await registry.execute(call, ToolContext("wf", key))


async def test_a_call_reaches_the_server_with_its_idempotency_key(
    toolbox: tuple[McpServers, Path, HttpToolbox | None],
) -> None:
    """The server's tools are offered under the server's name, and a call's result comes back,
    its idempotency key having reached the server in the request's _meta."""
    servers, journal_path, _ = toolbox
    tools = await servers.start()
    assert {t.name for t in tools} >= {"box__add", "box__refuse", "box__slow"}
    assert all(t.external and t.source.startswith("MCP server box") for t in tools)
    result = await _call(servers, "add", "wf/1/c1", a=2, b=3)
    assert result == ToolResult(call_id="c1", name="box__add", content="2 + 3 = 5")
    assert [r["key"] for r in journal(journal_path, "add")] == ["wf/1/c1"]


async def test_a_tool_error_is_an_error_result_for_the_model(
    toolbox: tuple[McpServers, Path, HttpToolbox | None],
) -> None:
    """isError from the server, and arguments it rejects, are error results, not raises."""
    servers, _, _ = toolbox
    refused = await _call(servers, "refuse", "k1", reason="not today")
    assert refused.is_error
    assert "refused: not today" in refused.content
    bad = await _call(servers, "add", "k2", a="two")
    assert bad.is_error
    assert "a" in bad.content


async def test_a_server_that_crashes_mid_call_fails_the_attempt_and_is_started_again(
    toolbox: tuple[McpServers, Path, HttpToolbox | None],
) -> None:
    """A crash in the middle of a call raises (an infrastructure fault, for Temporal to
    retry); the next call gets a new session (over stdio, a new process) and succeeds."""
    servers, journal_path, http = toolbox
    with pytest.raises(McpToolFailed, match="MCP server 'box', tool 'crash_once'"):
        await _call(servers, "crash_once", "crash-key")
    if http is not None:
        # Nobody restarts an HTTP server but its supervisor: the test plays that part.
        await wait_for(lambda: not http.running(), what="the HTTP toolbox to exit")
        await http.start()
    again = await _call(servers, "crash_once", "crash-key")
    assert again.content == "survived the crash"
    crashed, survived = journal(journal_path, "crash"), journal(journal_path, "survived")
    assert [r["key"] for r in crashed + survived] == ["crash-key", "crash-key"]
    assert crashed[0]["pid"] != survived[0]["pid"]
    assert servers.connections["box"].starts == 2


async def test_a_cancelled_slow_call_is_cancelled_on_the_server_too(
    toolbox: tuple[McpServers, Path, HttpToolbox | None],
) -> None:
    """Cancelling a call in flight (as a cancelled activity does) tells the server, which
    stops the tool; the session stays usable."""
    servers, journal_path, _ = toolbox
    task = asyncio.ensure_future(_call(servers, "slow", "slow-key", seconds=60))
    await wait_for(lambda: bool(journal(journal_path, "slow")), what="the slow call to start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(
        lambda: bool(journal(journal_path, "slow cancelled")), what="the server to cancel it"
    )
    assert not journal(journal_path, "slow done")
    assert (await _call(servers, "add", "after", a=1, b=1)).content == "1 + 1 = 2"
    assert servers.connections["box"].starts == 1


async def test_closing_stops_the_stdio_server_and_a_later_call_starts_it_again(
    tmp_path: Path,
) -> None:
    """aclose() (the worker stopping) ends the server process; the tools stay, and their
    next call starts a new one."""
    journal_path = tmp_path / "box.jsonl"
    servers = McpServers(
        load_mcp_config(write_config(tmp_path / "m.json", {"box": stdio_server(journal_path)}))
    )
    try:
        await _call(servers, "add", "one", a=1, b=2)
        await servers.aclose()
        assert not servers.connections["box"].open
        await _call(servers, "add", "two", a=1, b=2)
        pids = [r["pid"] for r in journal(journal_path, "add")]
        assert len(set(pids)) == 2
    finally:
        await servers.aclose()


async def test_a_server_that_cannot_start_is_named_with_the_reason(tmp_path: Path) -> None:
    """A command that does not exist, or a URL nobody answers, is McpServerUnavailable (a
    ConfigError, so one line from the CLI) naming the server."""
    for entry in ({"command": str(tmp_path / "no-such-server")}, {"url": "http://127.0.0.1:9/mcp"}):
        servers = McpServers(parse_mcp_config(json.dumps({"mcpServers": {"gone": entry}})))
        with pytest.raises(McpServerUnavailable, match="MCP server 'gone' did not start: "):
            await servers.start()


async def test_approval_rules_apply_to_a_servers_tools(tmp_path: Path, agents: Agents) -> None:
    """A tool the file puts behind approval waits for a person before it reaches the server,
    then runs once approved; the server's other tools do not wait."""
    journal_path = tmp_path / "box.jsonl"
    entry = stdio_server(journal_path, approval=["add"])
    servers = McpServers(load_mcp_config(write_config(tmp_path / "m.json", {"box": entry})))
    try:
        tools = await servers.start()
        assert [t.name for t in tools if t.approval] == ["box__add"]
        script = (
            Script()
            .calls("box__add", a=1, b=2, call_id="sum")
            .expect(role="tool", contains="1 + 2 = 3")
            .answers("3")
        )
        handle = await agents.start(script, tools=ToolRegistry(tools), goal="add")
        waiting = await wait_for_approval(handle)
        assert [(c.id, c.name) for c in waiting] == [("sum", "box__add")]
        assert journal(journal_path, "add") == []  # nothing reached the server yet
        await handle.execute_update(AgentWorkflow.approve, ApprovalRequest("sum"))
        run = await agents.finish(handle)
        assert run.result.answer == "3"
        assert [r["key"] for r in journal(journal_path, "add")] == [f"{handle.id}/1/sum"]
    finally:
        await servers.aclose()


async def test_the_servers_start_with_the_first_worker_and_stop_with_the_last(
    tmp_path: Path, agent_env: WorkflowEnvironment
) -> None:
    """A plugin's MCP servers start when its first worker runs (their tools then in the
    workers' registry) and stop, their processes with them, when its last worker stops."""
    journal_path = tmp_path / "box.jsonl"
    config = write_config(tmp_path / "m.json", {"box": stdio_server(journal_path)})
    servers = McpServers(load_mcp_config(config))
    registry = ToolRegistry()
    provider = Script().answers("-").llm()
    plugin = AgentLoopPlugin(Settings(), provider=provider, tools=registry, mcp=servers)
    target = agent_env.client.service_client.config.target_host
    client = await Client.connect(target, plugins=[plugin])
    box = servers.connections["box"]
    async with build_worker(client, task_queue=f"first-{uuid.uuid4()}"):
        # Listed into the registry once the server answered (the worker polls only then).
        await wait_for(lambda: "box__add" in registry, what="the server's tools")
        assert box.open
        call = ToolCall(id="c", name="box__add", arguments='{"a": 1, "b": 1}')
        await registry.execute(call, ToolContext("wf", "k"))
        [pid] = {r["pid"] for r in journal(journal_path)}
        async with build_worker(client, task_queue=f"second-{uuid.uuid4()}"):
            pass
        assert box.open  # the first worker still serves its tools
    assert not box.open
    await wait_for(lambda: not _alive(pid), what="the server process to end")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not reaped yet is not running.
    with contextlib.suppress(FileNotFoundError):
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    return False
