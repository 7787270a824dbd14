"""The tools an agent can call.

Write one with `@tool` on a typed function; a worker loads tools from the built-ins, from
installed packages' `agentic_loop.tools` entry points and from modules it is told about
(`build_registry`). A new built-in is a module here whose TOOL `builtin_tools()` lists.

Names are imported when first used: the activities, the workflow and every client command
import this package for `ToolRegistry` and `ToolContext`, and must not pay for `@tool`
(pydantic) or for loading the built-ins and entry points (some 0.25 s of CPU a process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentic_loop.lazy import lazy_attributes

_WHERE = {
    "ENTRY_POINT_GROUP": "agentic_loop.tools.loading",
    "DuplicateToolError": "agentic_loop.tools.registry",
    "Tool": "agentic_loop.tools.base",
    "ToolContext": "agentic_loop.tools.base",
    "ToolError": "agentic_loop.tools.base",
    "ToolLoadError": "agentic_loop.tools.loading",
    "ToolRegistry": "agentic_loop.tools.registry",
    "agent_tool": "agentic_loop.tools.agents",
    "build_registry": "agentic_loop.tools.loading",
    "builtin_tools": "agentic_loop.tools.loading",
    "describe_tools": "agentic_loop.tools.loading",
    "load_tools": "agentic_loop.tools.loading",
    "tool": "agentic_loop.tools.decorator",
}

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

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals(), __all__)

if TYPE_CHECKING:
    from agentic_loop.tools.agents import agent_tool
    from agentic_loop.tools.base import Tool, ToolContext, ToolError
    from agentic_loop.tools.decorator import tool
    from agentic_loop.tools.loading import (
        ENTRY_POINT_GROUP,
        ToolLoadError,
        build_registry,
        describe_tools,
        load_tools,
    )
    from agentic_loop.tools.loading import (
        builtin_tools as builtin_tools,  # importable, as it always was; not in __all__
    )
    from agentic_loop.tools.registry import DuplicateToolError, ToolRegistry


def default_registry() -> ToolRegistry:
    """A fresh registry of the built-in tools; fresh so callers may register more safely."""
    from agentic_loop.tools.loading import builtin_tools
    from agentic_loop.tools.registry import ToolRegistry

    return ToolRegistry(builtin_tools())
