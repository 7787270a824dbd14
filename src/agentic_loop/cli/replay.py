"""`replay`: judge exported histories against the workflow code installed here."""

from __future__ import annotations

import argparse

from agentic_loop.config import Settings


async def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from agentic_loop.replay import replay_command
    from agentic_loop.temporal.plugin import AgentLoopPlugin

    return await replay_command(args.paths, as_json=args.json, plugin=AgentLoopPlugin(settings))
