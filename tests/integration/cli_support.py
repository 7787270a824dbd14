"""Running the `agentic-loop` command as a separate process, from async tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

CLI = [sys.executable, "-m", "agentic_loop.cli"]


def cli_env(**extra: str) -> dict[str, str]:
    """This environment without Temporal, OpenAI or provider settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "OPENAI_", "ANTHROPIC_"))
    }
    env.pop("AGENTIC_LOOP_LLM", None)
    env.update(extra)
    return env


async def run_cli(
    *args: str, deadline: float = 120, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the command without blocking the event loop (a worker may be serving it)."""
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        env=cli_env(**env),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    data = stdin.encode() if stdin is not None else None
    out, err = await asyncio.wait_for(process.communicate(data), deadline)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())
