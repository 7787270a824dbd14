"""`tools`: what a worker started with the same settings and options would serve."""

from __future__ import annotations

import argparse

from agentic_loop.cli.common import tools_for
from agentic_loop.cli.output import to_json
from agentic_loop.config import Settings
from agentic_loop.tools import describe_tools


async def cmd_tools(args: argparse.Namespace, settings: Settings) -> int:
    rows = describe_tools(tools_for(args, settings))
    if args.json:
        for row in rows:
            print(to_json(row))
        return 0
    for row in rows:
        flags = [f for f, on in (("pure", row["pure"]), ("approval", row["approval"])) if on]
        if row["timeout_seconds"] is not None:
            flags.append(f"timeout {row['timeout_seconds']:g} s")
        arguments = ", ".join(
            f"{name}{'' if name in row['parameters'].get('required', []) else '?'}"
            for name in row["parameters"].get("properties", {})
        )
        extra = f" [{', '.join(flags)}]" if flags else ""
        print(f"{row['name']}({arguments}){extra}  from {row['source']}")
        print(f"    {row['description'].splitlines()[0] if row['description'] else ''}")
    return 0
