"""The local agent of `run` and `chat`: the configured server or an embedded one, and a
worker of this process with the tools and MCP servers the settings and options name (which
`worker`, `tools` and `record` take from here too)."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.client import Client

from agentic_loop.cli.common import CLIError, connect, fail, namespace_message, namespace_missing
from agentic_loop.config import Settings
from agentic_loop.llm import LLMProvider, provider_from_settings
from agentic_loop.temporal import embedded
from agentic_loop.temporal.connection import client_connect_config, configured_address, describe
from agentic_loop.temporal.payload_store import beside_database

if TYPE_CHECKING:
    from agentic_loop.temporal.plugin import AgentLoopPlugin
    from agentic_loop.tools import ToolRegistry
    from agentic_loop.tools.mcp.servers import McpServers


def tools_for(args: argparse.Namespace, settings: Settings) -> ToolRegistry:
    """What this process's worker serves: built-ins, installed entry points, AGENTIC_LOOP_TOOLS
    and every --tools of the command."""
    # Imported here: loading tools costs a command that only talks to a server some 0.2 s.
    from agentic_loop.tools import build_registry

    return build_registry([*settings.tools, *(getattr(args, "tools", None) or ())])


def mcp_for(args: argparse.Namespace, settings: Settings) -> McpServers | None:
    """The MCP servers of the command's --mcp FILE, else of AGENTIC_LOOP_MCP; None without
    either. The file is read (and a bad one reported) here; the servers start later."""
    given = getattr(args, "mcp", None)
    path = Path(given).expanduser() if given else settings.mcp_file
    if path is None:
        return None
    from agentic_loop.tools.mcp.servers import McpServers

    return McpServers.from_file(path)


@dataclass
class LocalAgent:
    """A client, and (unless the server's workers are used) a worker of this process."""

    client: Client
    where: str  # where Temporal is, for people
    provider: LLMProvider | None  # None: no worker here
    # host:port of an embedded server, which another terminal needs to reach this run (it is
    # a random port); None when the server is the configured one.
    embedded_address: str | None = None
    # Where this command's agents are started (and its worker, if any, polls).
    task_queue: str = ""


@contextlib.asynccontextmanager
async def local_agent(
    args: argparse.Namespace, settings: Settings, *, worker: bool = True
) -> AsyncIterator[LocalAgent]:
    """For `run` and `chat`: the configured server or an embedded one for as long as the
    command runs, and a worker in this process with the provider and tools the settings and
    options name, stopped and closed at the end."""
    from agentic_loop.temporal.plugin import AgentLoopPlugin
    from agentic_loop.worker import build_worker

    provider = provider_from_settings(settings) if worker else None
    tools = tools_for(args, settings) if worker else None
    mcp = mcp_for(args, settings) if worker else None
    plugin = AgentLoopPlugin(settings, provider=provider, tools=tools, mcp=mcp)
    try:
        # Before Temporal: a server that cannot start is said at once, in one line.
        await plugin.start_mcp()
        async with temporal_for_run(settings, args.db_filename, plugin) as (client, where):
            embedded_address = None if configured_address(settings) else target_of(client)
            queue = command_task_queue(settings, worker=worker)
            running = build_worker(client, task_queue=queue) if worker else None
            try:
                async with running if running is not None else contextlib.nullcontext():
                    yield LocalAgent(client, where, provider, embedded_address, queue)
            except RuntimeError as e:
                if namespace_missing(e):
                    fail(namespace_message(settings))
                raise
    finally:
        await plugin.aclose()


@contextlib.asynccontextmanager
async def temporal_for_run(
    settings: Settings, db_filename: str | None, plugin: AgentLoopPlugin
) -> AsyncIterator[tuple[Client, str]]:
    """The configured server, or an embedded dev server that lives as long as the command;
    either way a client with `plugin`."""
    if configured_address(settings):
        client = await connect(settings, plugin, embedded_option=True)
        yield client, describe(client_connect_config(settings))
        return
    async with embedded_server(plugin, settings.namespace, db_filename) as client:
        kept = f"history in {db_filename}" if db_filename else "ephemeral"
        yield client, f"embedded dev server on {target_of(client)} ({kept})"


@contextlib.asynccontextmanager
async def embedded_server(
    plugin: AgentLoopPlugin, namespace: str = "default", db_filename: str | None = None
) -> AsyncIterator[Client]:
    """A client of an embedded dev server (the one the command started early, if it did)
    that lives as long as the block runs. Payloads too big for history are kept beside its
    database, or, for an ephemeral server, in a directory as ephemeral as it is (unless
    AGENTIC_LOOP_PAYLOAD_STORE names a store)."""
    server = embedded.take(namespace, db_filename)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(server.stop)
        if db_filename:
            plugin.keep_payloads_in(beside_database(db_filename))
        else:
            temporary = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="payloads-"))
            plugin.keep_payloads_in(Path(temporary))
        try:
            client = await server.connect(plugin)
        except RuntimeError as e:
            raise CLIError(str(e)) from None
        yield client


def target_of(client: Client) -> str:
    return client.service_client.config.target_host


def queue_text(agent: LocalAgent, settings: Settings) -> str:
    """The banner's word on the task queue: only a shared server's is worth a line."""
    if agent.embedded_address is not None:
        return ""
    own = agent.task_queue != settings.task_queue
    return f", task queue {agent.task_queue}" + (" (this command's own)" if own else "")


def command_task_queue(settings: Settings, *, worker: bool) -> str:
    """The task queue of `run` and `chat`. On a shared server with a worker of their own they
    use a queue of their own: on the shared one, another worker (with another LLM, or older
    code) could answer instead of the one the command announced. AGENTIC_LOOP_TASK_QUEUE,
    when set, is used as given; so is the default queue without a worker here (`--no-worker`
    asks the server's workers) or on the command's own embedded server."""
    if not worker or settings.task_queue_set or not configured_address(settings):
        return settings.task_queue
    return f"{settings.task_queue}-{uuid.uuid4().hex[:8]}"
