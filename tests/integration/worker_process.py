"""A worker in its own process, for tests that kill it: `python worker_process.py --address
HOST:PORT --task-queue Q --workdir DIR`. It plays the scripts in DIR/scripts and journals every
LLM request and tool run to DIR, so the test can count them after this process is gone."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

# tests/, where `support` lives, as pytest's pythonpath gives it to the tests themselves.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import (
    WORKER_JOURNAL,
    append_line,
    connect,
    harness_provider,
    harness_tools,
)

from agentic_loop.temporal.plugin import plugin_of
from agentic_loop.worker import build_worker


async def _journal_affinity(client: Any, task_queue: str, workdir: Path) -> None:
    """Journal the moment this worker sees another on its queue and names its own queue in
    its turns (worker affinity), so a test can wait for it."""
    plugin = plugin_of(client)
    while True:
        own = plugin.worker_queue(task_queue)
        if own is not None:
            break
        await asyncio.sleep(0.05)
    append_line(workdir / WORKER_JOURNAL, {"event": "affinity", "pid": os.getpid(), "queue": own})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()

    client = await connect(args.address)
    worker = build_worker(
        client,
        task_queue=args.task_queue,
        provider=harness_provider(args.workdir),
        tools=harness_tools(args.workdir),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        append_line(args.workdir / WORKER_JOURNAL, {"event": "ready", "pid": os.getpid()})
        sees_others = asyncio.create_task(_journal_affinity(client, args.task_queue, args.workdir))
        await stop.wait()
        sees_others.cancel()
    # What its transcript cache saw: a miss is a transcript read through the server.
    cache = plugin_of(client).cache
    stopped = {"event": "stopped", "pid": os.getpid(), "hits": cache.hits, "misses": cache.misses}
    append_line(args.workdir / WORKER_JOURNAL, stopped)


if __name__ == "__main__":
    asyncio.run(main())
    # Skip interpreter finalization: the SDK's Rust threads may still call into Python while
    # it finalizes and abort the process (temporalio/sdk-python#300), as cli.entrypoint does.
    sys.stdout.flush()
    os._exit(0)
