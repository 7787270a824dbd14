"""The tools an agent can call. Adding one: write its module, then list its TOOL below."""

from __future__ import annotations

from agentic_loop.tools import calculator, web_search
from agentic_loop.tools.base import Tool, ToolContext, ToolError, ToolRegistry

__all__ = ["Tool", "ToolContext", "ToolError", "ToolRegistry", "default_registry"]


def default_registry() -> ToolRegistry:
    """A fresh registry of the built-in tools; fresh so callers may register more safely."""
    return ToolRegistry([calculator.TOOL, web_search.TOOL])
