"""The tools an agent can call.

Write one with `@tool` on a typed function; a worker loads tools from the built-ins, from
installed packages' `agentic_loop.tools` entry points and from modules it is told about
(`build_registry`). A new built-in is a module here whose TOOL `builtin_tools()` lists.
"""

from __future__ import annotations

from agentic_loop.tools.agents import agent_tool
from agentic_loop.tools.base import Tool, ToolContext, ToolError
from agentic_loop.tools.decorator import tool
from agentic_loop.tools.loading import (
    ENTRY_POINT_GROUP,
    ToolLoadError,
    build_registry,
    builtin_tools,
    describe_tools,
    load_tools,
)
from agentic_loop.tools.registry import DuplicateToolError, ToolRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "DuplicateToolError",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolLoadError",
    "ToolRegistry",
    "agent_tool",
    "build_registry",
    "default_registry",
    "describe_tools",
    "load_tools",
    "tool",
]


def default_registry() -> ToolRegistry:
    """A fresh registry of the built-in tools; fresh so callers may register more safely."""
    return ToolRegistry(builtin_tools())
