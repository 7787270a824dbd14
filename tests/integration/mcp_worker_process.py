"""A worker with MCP servers in its own process, for the test that kills it:
`python mcp_worker_process.py --address HOST:PORT --task-queue Q --workdir DIR --mcp FILE`.
As worker_process.py (the scripts in DIR/scripts, every LLM request journaled to DIR), with
the tools of the MCP servers in FILE besides the built-ins."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

# tests/, where `support` lives, as pytest's pythonpath gives it to the tests themselves.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import WORKER_JOURNAL, append_line, harness_provider
from temporalio.client import Client

from agentic_loop.config import Settings
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.tools import default_registry
from agentic_loop.tools.mcp.servers import McpServers
from agentic_loop.worker import build_worker


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--mcp", type=Path, required=True)
    args = parser.parse_args()

    plugin = AgentLoopPlugin(Settings(), mcp=McpServers.from_file(args.mcp))
    client = await Client.connect(args.address, plugins=[plugin])
    worker = build_worker(
        client,
        task_queue=args.task_queue,
        provider=harness_provider(args.workdir),
        tools=default_registry(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        append_line(args.workdir / WORKER_JOURNAL, {"event": "ready", "pid": os.getpid()})
        await stop.wait()
    await plugin.aclose()
    append_line(args.workdir / WORKER_JOURNAL, {"event": "stopped", "pid": os.getpid()})


if __name__ == "__main__":
    asyncio.run(main())
    # As worker_process.py: no interpreter finalization (temporalio/sdk-python#300).
    sys.stdout.flush()
    os._exit(0)
