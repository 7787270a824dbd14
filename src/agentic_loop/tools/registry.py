"""The tools a worker offers, by name, and how a call the LLM asked for becomes a ToolResult."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from agentic_loop.config import ConfigError
from agentic_loop.tools.base import Tool, ToolContext, ToolError
from agentic_loop.types import ToolCall, ToolResult, ToolSpec


class DuplicateToolError(ConfigError):
    """Two tools with one name: the model could not tell which it calls, so the worker
    refuses to start rather than pick one."""


def _origin(tool: Tool) -> str:
    return tool.source or "code that registered it directly"


class ToolRegistry:
    """The tools a worker can run, by name, in the order they were registered."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        existing = self._tools.get(tool.name)
        if existing is not None and existing.run is tool.run:
            # The same tool reached twice (an installed package's entry point, and --tools
            # naming its module): nothing to tell apart, so the first one stays.
            return
        if existing is not None:
            raise DuplicateToolError(
                f"tool {tool.name!r} is offered twice: by {_origin(existing)} and by "
                f"{_origin(tool)}; rename one (@tool(name=...)) or stop loading one of them"
            )
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def schemas(
        self, names: Iterable[str] | None = None, catalog: Sequence[ToolSpec] | None = None
    ) -> list[dict[str, Any]]:
        """Schemas of the named tools (all when None), skipping names this worker lacks. With
        a `catalog` (a run's recorded copy of the tools from outside the program), those are
        shown as the catalog has them, and this worker's own copies of them not at all."""
        if catalog is None:
            chosen = self.names() if names is None else [n for n in names if n in self._tools]
            return [self._tools[n].schema() for n in chosen]
        shown = {n: t for n, t in self._tools.items() if not t.external}
        recorded = {s.name: s for s in catalog if s.name not in shown}
        available = [*shown, *recorded]
        chosen = available if names is None else [n for n in names if n in available]
        return [shown[n].schema() if n in shown else spec_schema(recorded[n]) for n in chosen]

    async def execute(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Run one call. Every mistake of the LLM's becomes an error result, never a raise."""

        def refuse(reason: str) -> ToolResult:
            return ToolResult(call_id=call.id, name=call.name, content=reason, is_error=True)

        tool = self._tools.get(call.name)
        if tool is None:
            return refuse(
                f"unknown tool {call.name!r}; available tools: {', '.join(self.names()) or 'none'}"
            )
        try:
            args = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError as e:
            return refuse(
                f"arguments are not valid JSON ({e.msg} at position {e.pos}); send a JSON object"
            )
        if not isinstance(args, dict):
            return refuse("arguments must be a JSON object")
        try:
            content = await tool.run(args, context)
        except ToolError as e:
            return refuse(str(e))
        return ToolResult(call_id=call.id, name=call.name, content=content)


def spec_schema(spec: ToolSpec) -> dict[str, Any]:
    """A recorded tool as the Chat Completions `tools` list expects it (as Tool.schema)."""
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters,
        },
    }
