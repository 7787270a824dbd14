"""One MCP server's session for a whole worker process.

Started on first use (or at worker start), reused by every call of every activity, started
again when it died, closed with the worker. The MCP SDK's client lives in anyio task groups
that must be entered and left by one task, and an activity's task ends with its attempt, so
each session is owned by a task of its own, which opens the client, hands it over and holds
it open until told to close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import Any, cast

import httpx2
from mcp import Client as McpClient
from mcp import MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT, CallToolResult, RequestParamsMeta
from mcp_types import Tool as McpTool

from agentic_loop.config import ConfigError
from agentic_loop.tools.mcp.config import HttpServer, ServerConfig

logger = logging.getLogger(__name__)

# Where a call's idempotency key travels in the request's `_meta`: a server deduplicates its
# side effects by it, as a Python tool does by ToolContext.idempotency_key.
IDEMPOTENCY_META_KEY = "agentic-loop/idempotency-key"
# Seconds a server gets to start and answer the handshake, and to close.
START_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0
# JSON-RPC errors after which the session cannot be trusted: it is started again.
_BROKEN = {CONNECTION_CLOSED, REQUEST_TIMEOUT}


class McpServerUnavailable(ConfigError):
    """A server did not start or answer the handshake: at worker start this stops the
    worker with the reason; during a run the attempt fails and Temporal retries it."""


async def _target(server: ServerConfig, stack: contextlib.AsyncExitStack) -> Any:
    """What mcp.Client connects to: the command to start, the URL, or (for a URL with headers)
    a transport over an HTTP client of ours, closed with the session."""
    if not isinstance(server, HttpServer):
        return StdioServerParameters(
            command=server.command, args=server.args, env=server.env or None, cwd=server.cwd
        )
    if not server.headers:
        return server.url
    # The SDK's own defaults for MCP: a long read timeout, as a response may stream.
    http = await stack.enter_async_context(
        httpx2.AsyncClient(headers=server.headers, timeout=httpx2.Timeout(30.0, read=300.0))
    )
    return streamable_http_client(server.url, http_client=http)


def describe_error(error: BaseException) -> str:
    """An error in a few words: the first of a group's (anyio's task groups wrap the real
    cause, a refused connection say, in an ExceptionGroup)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class McpConnection:
    def __init__(self, name: str, server: ServerConfig) -> None:
        self.name = name
        self.server = server
        # How often a session was opened: 1 while the first lives, 2 after a restart.
        self.starts = 0
        self._client: McpClient | None = None
        self._owner: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock = asyncio.Lock()

    @property
    def open(self) -> bool:
        return self._client is not None

    async def list_tools(self) -> list[McpTool]:
        """Every tool the server lists, following its pages."""
        client = await self._session()
        tools: list[McpTool] = []
        cursor: str | None = None
        try:
            while True:
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    return tools
        except BaseException as e:
            self._check(client, e)
            raise

    async def call_tool(
        self, tool: str, arguments: dict[str, Any], idempotency_key: str
    ) -> CallToolResult:
        client = await self._session()
        meta = cast(RequestParamsMeta, {IDEMPOTENCY_META_KEY: idempotency_key})
        try:
            return await client.call_tool(tool, arguments, meta=meta)
        except BaseException as e:
            self._check(client, e)
            raise

    def _check(self, client: McpClient, error: BaseException) -> None:
        """After a failed request: a JSON-RPC error answer leaves the session as it was; a
        closed connection, a timeout or a transport failure ends it, so the next request
        (the retry) starts the server again. A cancelled call leaves it too: the SDK has told
        the server to stop that request, and the session goes on."""
        if isinstance(error, asyncio.CancelledError):
            return
        if isinstance(error, MCPError) and error.code not in _BROKEN:
            return
        if self._client is client:
            logger.warning(
                "MCP server %r: the session ended (%s); it will be restarted", self.name, error
            )
            self._client = None

    async def _session(self) -> McpClient:
        async with self._lock:
            if self._client is not None and self._owner is not None and not self._owner.done():
                return self._client
            await self._close_owner()
            ready: asyncio.Future[McpClient] = asyncio.get_running_loop().create_future()
            self._stop = asyncio.Event()
            # A fresh context: the owner outlives the activity that happened to start it, and
            # must not carry that activity's context (its info, its trace) into later calls.
            self._owner = asyncio.get_running_loop().create_task(
                self._own(ready, self._stop),
                name=f"mcp-server-{self.name}",
                context=contextvars.Context(),
            )
            try:
                client = await asyncio.wait_for(asyncio.shield(ready), START_TIMEOUT)
            except asyncio.CancelledError:
                await self._close_owner()
                raise
            except Exception as e:
                await self._close_owner()
                reason = describe_error(e)
                if isinstance(e, TimeoutError):
                    reason = f"no answer within {START_TIMEOUT:g} s"
                raise McpServerUnavailable(
                    f"MCP server {self.name!r} did not start: {reason}"
                ) from e
            self._client = client
            self.starts += 1
            return client

    async def _own(self, ready: asyncio.Future[McpClient], stop: asyncio.Event) -> None:
        try:
            # No response cache: the tool list is recorded by each run, and must be the
            # server's own answer when it is fetched.
            async with contextlib.AsyncExitStack() as stack:
                target = await _target(self.server, stack)
                client = await stack.enter_async_context(McpClient(target, cache=None))
                ready.set_result(client)
                await stop.wait()
        except BaseException as e:
            if not ready.done():
                ready.set_exception(e if isinstance(e, Exception) else RuntimeError(repr(e)))
            elif not isinstance(e, asyncio.CancelledError):
                logger.warning(
                    "MCP server %r: closing its session failed: %s", self.name, describe_error(e)
                )
            if not isinstance(e, Exception):
                raise

    async def _close_owner(self) -> None:
        owner, self._owner, self._client = self._owner, None, None
        if owner is None:
            return
        if self._stop is not None:
            self._stop.set()
        # The SDK closes stdin, waits, then kills the server's process group; bounded here so
        # a wedged server cannot hold up a worker's shutdown.
        done, _ = await asyncio.wait({owner}, timeout=CLOSE_TIMEOUT)
        if not done:
            owner.cancel()
            with contextlib.suppress(BaseException):
                await owner

    async def aclose(self) -> None:
        async with self._lock:
            await self._close_owner()
