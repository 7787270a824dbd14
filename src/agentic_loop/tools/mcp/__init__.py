"""MCP servers' tools, offered to the model like the program's own (docs/mcp.md).

    servers = McpServers.from_file(Path("mcp.json"))   # {"mcpServers": {...}}
    plugin = AgentLoopPlugin(mcp=servers)               # or AGENTIC_LOOP_MCP=mcp.json

Importing this package loads the MCP SDK (about a second); the rest of agentic_loop imports it
only when MCP servers are configured.
"""

from __future__ import annotations

from agentic_loop.tools.mcp.config import McpConfig, McpConfigError, load_mcp_config
from agentic_loop.tools.mcp.connection import IDEMPOTENCY_META_KEY, McpServerUnavailable
from agentic_loop.tools.mcp.servers import McpServers, McpToolFailed, tool_name

__all__ = [
    "IDEMPOTENCY_META_KEY",
    "McpConfig",
    "McpConfigError",
    "McpServerUnavailable",
    "McpServers",
    "McpToolFailed",
    "load_mcp_config",
    "tool_name",
]
