"""`tools`: what a worker started with the same settings and options would serve."""

from __future__ import annotations

import argparse
from typing import Any

from agentic_loop.cli.local import mcp_for, tools_for
from agentic_loop.cli.output import to_json
from agentic_loop.config import Settings
from agentic_loop.tools import describe_tools


def agent_flag(agent: dict[str, Any]) -> str:
    """What `tools` says of a sub-agent: that it is one, with its model and limits."""
    limits = [f"model {agent['model']}"] if agent.get("model") else []
    limits.append(f"max {agent['max_turns']} turns")
    if agent.get("tools") is not None:
        limits.append(f"tools: {', '.join(agent['tools']) or 'none'}")
    return f"sub-agent: {', '.join(limits)}"


async def cmd_tools(args: argparse.Namespace, settings: Settings) -> int:
    registry = tools_for(args, settings)
    mcp = mcp_for(args, settings)
    if mcp is not None:
        # Listing needs the servers running: started for this, and stopped again.
        try:
            for listed in await mcp.start():
                registry.register(listed)
        finally:
            await mcp.aclose()
    rows = describe_tools(registry)
    if args.json:
        for row in rows:
            print(to_json(row))
        return 0
    for row in rows:
        flags = [f for f, on in (("pure", row["pure"]), ("approval", row["approval"])) if on]
        if row["timeout_seconds"] is not None:
            flags.append(f"timeout {row['timeout_seconds']:g} s")
        if row.get("agent") is not None:
            flags.append(agent_flag(row["agent"]))
        arguments = ", ".join(
            f"{name}{'' if name in row['parameters'].get('required', []) else '?'}"
            for name in row["parameters"].get("properties", {})
        )
        extra = f" [{', '.join(flags)}]" if flags else ""
        print(f"{row['name']}({arguments}){extra}  from {row['source']}")
        print(f"    {row['description'].splitlines()[0] if row['description'] else ''}")
    return 0
