"""What a tool is, and how a call the LLM asked for becomes a ToolResult."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from agentic_loop.types import ToolCall, ToolResult


class ToolError(Exception):
    """A tool's refusal. It goes back to the LLM as an error result, which it can correct;
    any other exception is an infrastructure fault and is retried by Temporal."""


@dataclass(frozen=True)
class ToolContext:
    workflow_id: str
    # Stable across retries and worker crashes: use it to deduplicate side effects.
    idempotency_key: str


ToolFunction = Callable[[dict[str, Any], ToolContext], Awaitable[str]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    # JSON schema of the arguments object, as OpenAI function tools take it.
    parameters: dict[str, Any]
    run: ToolFunction
    # Fast (well under a second), deterministic and without side effects: the LLM activity
    # may then run its calls itself when the workflow input lists it in `inline_tools`. The
    # input asks; this flag, set by whoever registers the tool on the worker, decides.
    pure: bool = False

    def schema(self) -> dict[str, Any]:
        """The tool as the Chat Completions `tools` list expects it."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _check_arguments(tool: Tool, args: dict[str, Any]) -> None:
    """A shallow check against the schema: required keys, known keys, top-level types."""
    properties: dict[str, Any] = tool.parameters.get("properties", {})
    missing = [k for k in tool.parameters.get("required", []) if k not in args]
    if missing:
        raise ToolError(f"missing required argument(s): {', '.join(missing)}")
    if tool.parameters.get("additionalProperties") is False:
        unknown = sorted(set(args) - set(properties))
        if unknown:
            raise ToolError(
                f"unknown argument(s): {', '.join(unknown)}; "
                f"expected: {', '.join(properties) or 'none'}"
            )
    for key, value in args.items():
        expected = properties.get(key, {}).get("type")
        types = _JSON_TYPES.get(expected) if isinstance(expected, str) else None
        if types is None:
            continue
        ok = False if isinstance(value, bool) and bool not in types else isinstance(value, types)
        if not ok:
            raise ToolError(f"argument {key!r} must be of type {expected}")


class ToolRegistry:
    """The tools a worker can run, by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Schemas of the named tools (all when None), skipping names this worker lacks."""
        chosen = self.names() if names is None else [n for n in names if n in self._tools]
        return [self._tools[n].schema() for n in chosen]

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
            _check_arguments(tool, args)
            content = await tool.run(args, context)
        except ToolError as e:
            return refuse(str(e))
        return ToolResult(call_id=call.id, name=call.name, content=content)
