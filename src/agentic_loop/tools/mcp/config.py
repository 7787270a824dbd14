"""The MCP servers file (`--mcp FILE`, AGENTIC_LOOP_MCP): the format Claude Desktop, Cursor and
VS Code share, an `mcpServers` object of named servers, each a `command` (with `args`, `env`,
`cwd`) started over stdio, or a `url` spoken to over streamable HTTP:

    {"mcpServers": {
        "notes": {"command": "python", "args": ["notes_server.py"], "env": {"NOTES": "x"}},
        "search": {"url": "http://127.0.0.1:8000/mcp", "approval": ["delete_index"]}}}

Our own keys, all optional: `approval` (true: every tool of the server waits for a person;
a list: those tools), `timeout_seconds` (the limit on one call), `disabled` (skip it).
Unknown keys are refused: a misspelt `comand` must not pass for a server without a command.
Only pydantic is imported here, so a bad file is reported before the MCP SDK is loaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentic_loop.config import ConfigError

# A server's name starts every tool name it gives ("notes__add"), and a tool name may hold
# only what the Chat Completions API accepts. No "__" inside, so the separator stays unique.
_SERVER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_))*")
MAX_SERVER_NAME = 24


class McpConfigError(ConfigError):
    """The MCP servers file cannot be used; the message names the file and the problem."""


class _Server(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # True: every tool of this server waits for a person's approval; a list: these tools (by
    # the server's own names).
    approval: bool | list[str] = False
    timeout_seconds: Annotated[float, Field(gt=0)] | None = None
    disabled: bool = False

    def needs_approval(self, tool: str) -> bool:
        return self.approval is True or (isinstance(self.approval, list) and tool in self.approval)


class StdioServer(_Server):
    """A server this worker starts as a child process and talks to over its stdin/stdout."""

    type: Literal["stdio"] = "stdio"
    command: Annotated[str, Field(min_length=1)]
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None


class HttpServer(_Server):
    """A server already running somewhere, spoken to over streamable HTTP."""

    type: Literal["http", "streamable-http", "streamableHttp"] = "http"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not re.match(r"https?://[^/\s]+", url):
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return url


ServerConfig = StdioServer | HttpServer


class McpConfig(BaseModel):
    """The servers of one file, by name, in the file's order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    servers: dict[str, ServerConfig] = Field(alias="mcpServers")
    # Where it was read from, for messages and `agentic-loop tools`.
    path: str = Field(default="", exclude=True)

    @field_validator("servers", mode="before")
    @classmethod
    def _each(cls, servers: Any) -> Any:
        # Tell the two kinds apart by their keys, so an error names the right one's problem
        # (a union would report both kinds' complaints).
        if not isinstance(servers, dict):
            return servers
        chosen: dict[str, Any] = {}
        for name, server in servers.items():
            if not _SERVER_NAME.fullmatch(name) or len(name) > MAX_SERVER_NAME:
                raise ValueError(
                    f"server name {name!r} cannot start tool names: use 1-{MAX_SERVER_NAME} "
                    "letters, digits, '-' or single '_'"
                )
            if not isinstance(server, dict):
                raise ValueError(f"server {name!r} must be an object, not {server!r:.40}")
            if "url" in server and "command" in server:
                raise ValueError(f"server {name!r} has both 'command' and 'url': give one")
            if "url" not in server and "command" not in server:
                raise ValueError(
                    f"server {name!r} needs a 'command' (stdio) or a 'url' (streamable HTTP)"
                )
            kind = HttpServer if "url" in server else StdioServer
            try:
                chosen[name] = kind.model_validate(server)
            except ValidationError as e:
                raise ValueError(f"server {name!r}: {_first_problem(e)}") from None
        return chosen

    @property
    def enabled(self) -> dict[str, ServerConfig]:
        return {name: s for name, s in self.servers.items() if not s.disabled}


def parse_mcp_config(text: str, path: str = "<string>") -> McpConfig:
    """The servers of a file's text; an McpConfigError of one line, naming `path`, if it
    is not JSON of the expected shape."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise McpConfigError(
            f"MCP servers file {path}: not JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    if not isinstance(data, dict) or "mcpServers" not in data:
        raise McpConfigError(
            f'MCP servers file {path}: expected an object {{"mcpServers": {{NAME: {{...}}}}}}'
        )
    try:
        config = McpConfig.model_validate(data)
    except ValidationError as e:
        raise McpConfigError(f"MCP servers file {path}: {_first_problem(e)}") from None
    return config.model_copy(update={"path": path})


def load_mcp_config(path: Path) -> McpConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise McpConfigError(f"MCP servers file {path}: cannot read it ({e.strerror})") from None
    return parse_mcp_config(text, str(path))


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(p) for p in problem["loc"])
    message = str(problem["msg"]).removeprefix("Value error, ")
    if message.startswith("server "):
        where = ""  # a server's own problem, already worded by server (McpConfig._each)
    if problem["type"] == "extra_forbidden":
        message = "unknown key (a typo?)"
    return f"{where}: {message}" if where else message
