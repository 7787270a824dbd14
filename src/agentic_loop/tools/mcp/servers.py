"""A worker's MCP servers, and their tools as Tools the registry offers like any other.

Each tool is named `<server>__<tool>`, so two servers' tools cannot clash, and its calls go to
the worker's one session with that server (connection.py), the call's idempotency key in the
request's `_meta`. What the server answers decides what the model sees:

- a result with `isError` is an error result: the model reads the reason and may correct
  itself (as with a Python tool's ToolError);
- a JSON-RPC "invalid params" answer (bad arguments, a tool the server no longer has) too:
  retrying the same call cannot help, the model can;
- any other JSON-RPC error, a closed connection, a crash or a timeout is an infrastructure
  fault: raised, so Temporal retries the activity, and the session is started again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from mcp import MCPError
from mcp_types import (
    INVALID_PARAMS,
    AudioContent,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)
from mcp_types import Tool as McpTool

from agentic_loop.tools.base import Tool, ToolContext, ToolError
from agentic_loop.tools.mcp.config import McpConfig, load_mcp_config
from agentic_loop.tools.mcp.connection import McpConnection, McpServerUnavailable, describe_error

SEPARATOR = "__"
MAX_TOOL_NAME = 64  # what the Chat Completions API accepts
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


class McpToolFailed(RuntimeError):
    """An MCP call failed for a reason the model cannot fix: raised, so Temporal retries it."""


def tool_name(server: str, tool: str) -> str:
    """The name the model calls a server's tool by: `<server>__<tool>`, with characters the
    model's API refuses (MCP allows '.' and '/') made '_', and, past 64 characters, cut and
    ended with a fingerprint of the whole, so two long names stay apart."""
    name = _NOT_ALLOWED.sub("_", f"{server}{SEPARATOR}{tool}")
    if len(name) <= MAX_TOOL_NAME:
        return name
    digest = hashlib.sha256(f"{server}/{tool}".encode()).hexdigest()[:8]
    return f"{name[: MAX_TOOL_NAME - 9]}_{digest}"


def result_text(result: CallToolResult) -> str:
    """What the model is shown of a call's result: its text blocks, one after another; a
    placeholder for what is not text; the structured result when there is nothing else."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, EmbeddedResource):
            resource = block.resource
            if isinstance(resource, TextResourceContents):
                parts.append(resource.text)
            else:
                parts.append(
                    f"[binary resource {resource.uri} ({resource.mime_type or 'unknown'})]"
                )
        elif isinstance(block, ResourceLink):
            parts.append(f"[resource {block.uri}]")
        elif isinstance(block, ImageContent | AudioContent):
            kind = "image" if isinstance(block, ImageContent) else "audio"
            parts.append(f"[{kind} ({block.mime_type}), not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


class McpServers:
    """The MCP servers of one configuration, shared by every worker of a process.

    `start()` opens every session and lists the tools (the first time; the Tools then stay,
    their calls reaching whichever session is alive); `aclose()` closes the sessions, which
    stops the processes this worker started.
    """

    def __init__(self, config: McpConfig) -> None:
        self.config = config
        self.connections = {
            name: McpConnection(name, server) for name, server in config.enabled.items()
        }
        self._tools: list[Tool] | None = None
        self._lock: asyncio.Lock | None = None

    @classmethod
    def from_file(cls, path: Path) -> McpServers:
        return cls(load_mcp_config(path))

    @property
    def tools(self) -> list[Tool]:
        """The servers' tools, once `start()` listed them; empty before."""
        return list(self._tools or ())

    async def start(self) -> list[Tool]:
        """Start every server at once and list its tools; McpServerUnavailable, naming the
        server and why, if one does not start. Again after `aclose()`, it starts them again."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                if self._tools is None:
                    listed = await asyncio.gather(
                        *(self._tools_of(c) for c in self.connections.values())
                    )
                    self._tools = [t for tools in listed for t in tools]
                else:
                    await asyncio.gather(*(c.list_tools() for c in self.connections.values()))
            except BaseException:
                await self.aclose()
                raise
            return list(self._tools)

    async def _tools_of(self, connection: McpConnection) -> list[Tool]:
        try:
            listed = await connection.list_tools()
        except McpServerUnavailable:
            raise
        except Exception as e:
            raise McpServerUnavailable(
                f"MCP server {connection.name!r} did not list its tools: {describe_error(e)}"
            ) from e
        return [self._tool(connection, t) for t in listed]

    def _tool(self, connection: McpConnection, listed: McpTool) -> Tool:
        server, original = connection.name, listed.name

        async def run(args: dict[str, Any], context: ToolContext) -> str:
            try:
                result = await connection.call_tool(original, args, context.idempotency_key)
            except MCPError as e:
                if e.code == INVALID_PARAMS:
                    raise ToolError(e.message) from None
                raise McpToolFailed(
                    f"MCP server {server!r}, tool {original!r}: {e.message} (JSON-RPC {e.code})"
                ) from e
            except (McpServerUnavailable, asyncio.CancelledError):
                raise
            except Exception as e:
                raise McpToolFailed(
                    f"MCP server {server!r}, tool {original!r}: {describe_error(e)}"
                ) from e
            text = result_text(result)
            if result.is_error:
                raise ToolError(text or f"{original} failed without saying why")
            return text

        return Tool(
            name=tool_name(server, original),
            description=listed.description or listed.title or "",
            parameters=dict(listed.input_schema),
            run=run,
            timeout_seconds=connection.server.timeout_seconds,
            approval=connection.server.needs_approval(original),
            # The file's name, not its path: a run's tool catalog is recorded in its history,
            # which should not carry one machine's directories.
            source=f"MCP server {server} ({Path(self.config.path).name})"
            if self.config.path
            else f"MCP server {server}",
            external=True,
        )

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.connections.values()))
