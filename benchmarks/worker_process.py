"""`python -m benchmarks.worker_process`: one agentic-loop worker in a process of its own, for
the scale-out and many-conversations sections (fleet.py starts and stops them).

A separate OS process, not a second Worker in the bench's process: each has its own
transcript cache, its own workflow cache and its own interpreter (its own core, its own GIL),
so what the sections measure is what N worker processes of a deployment do, and a worker's
RSS is its own. The worker is the shipped one: a client of `connect_client` with
AgentLoopPlugin, and `build_worker` without components of its own, so the plugin supplies
the workflow, the activities and the cache, and whatever the plugin adds to its workers
(worker affinity, for one) applies here as it does in production.

Every STATS_INTERVAL seconds, and at once on SIGUSR1, the process replaces its stats file
(written to a temporary file and renamed, so a reader never sees half of one): the cache's
hits and misses, RSS now and at its peak, the LLM calls answered. On SIGUSR1 it first writes
the LLM calls' arrival times since the last SIGUSR1 (`<stats>.calls`) and then the stats with
`dumps` one higher, which tells the reader both files are new. SIGTERM stops it; it also dies
with the process that started it (PR_SET_PDEATHSIG), so a bench killed outright leaves no
worker behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

STATS_INTERVAL = 0.5
_PR_SET_PDEATHSIG = 1


def read_memory(status: str) -> tuple[int, int]:
    """(current, peak) resident bytes from the text of /proc/<pid>/status (VmRSS, VmHWM, in
    kB there); 0 for a line that is missing."""
    found = {"VmRSS:": 0, "VmHWM:": 0}
    for line in status.splitlines():
        fields = line.split()  # "VmRSS:", "12345", "kB"
        if len(fields) >= 2 and fields[0] in found:
            found[fields[0]] = int(fields[1]) * 1024
    return found["VmRSS:"], found["VmHWM:"]


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` as JSON: rename is atomic, so a reader sees the old file or
    the new one, never part of one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data), encoding="utf-8")
    os.replace(partial, path)


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when the one that started it ends, however it ends (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before prctl
        os._exit(1)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker_process")
    parser.add_argument("--address", required=True, help="the dev server, host:port")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--stats", type=Path, required=True, help="the JSON stats file to keep")
    parser.add_argument("--parent", type=int, default=0, help="die with this process")
    parser.add_argument(
        "--max-cached-workflows",
        type=int,
        default=None,
        help="the worker's workflow cache (build_worker's default when not given)",
    )
    parser.add_argument(
        "--no-eager-activities",
        action="store_true",
        help="never take an activity back in the workflow task's completion (eager dispatch): "
        "as on a server with system.enableActivityEagerExecution off, or a worker whose "
        "activity slots are full",
    )
    parser.add_argument(
        "--no-calls",
        action="store_true",
        help="keep only counters, not every LLM call's arrival time",
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    # Imported after the parent check: the imports take a second or more on a loaded machine.
    from agentic_loop.config import Settings
    from agentic_loop.temporal.connection import connect_client
    from agentic_loop.temporal.plugin import AgentLoopPlugin
    from agentic_loop.worker import build_worker
    from benchmarks.workload import BenchLLM, bench_registry

    llm = BenchLLM(clock=time.monotonic, record=not args.no_calls)
    plugin = AgentLoopPlugin(Settings.from_env(), provider=llm, tools=bench_registry())
    client = await connect_client(
        plugin=plugin, address_override=args.address, namespace_override=args.namespace
    )
    options: dict[str, Any] = {}
    if args.max_cached_workflows is not None:
        options["max_cached_workflows"] = args.max_cached_workflows
    if args.no_eager_activities:
        options["disable_eager_activity_execution"] = True
    worker = build_worker(client, task_queue=args.task_queue, **options)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    dump = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump.set)
    dumps = 0
    calls_path = args.stats.with_name(args.stats.name + ".calls")

    def stats(ready: bool) -> dict[str, Any]:
        try:
            rss, peak = read_memory(Path("/proc/self/status").read_text())
        except OSError:
            rss, peak = 0, 0
        return {
            "pid": os.getpid(),
            "ready": ready,
            "dumps": dumps,
            "written_at": time.monotonic(),
            "hits": plugin.cache.hits,
            "misses": plugin.cache.misses,
            "cache_bytes": plugin.cache.size_bytes,
            "cache_max_bytes": plugin.cache.max_bytes,
            "cache_conversations": len(plugin.cache),
            "rss_bytes": rss,
            "peak_rss_bytes": peak,
            "llm_calls": llm.served,
            "last_workflow": llm.last_workflow,
            "last_call_at": llm.last_call_at,
            "max_cached_workflows": worker.config().get("max_cached_workflows"),
            "task_queue": args.task_queue,
            "worker_affinity_env": os.environ.get("AGENTIC_LOOP_WORKER_AFFINITY"),
            "eager_activities": not args.no_eager_activities,
        }

    async with worker:
        write_atomically(args.stats, stats(True))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dump.wait(), STATS_INTERVAL)
            if dump.is_set():
                dump.clear()
                write_atomically(calls_path, dict(llm.calls))
                llm.reset()
                dumps += 1
            write_atomically(args.stats, stats(True))


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.parent:
        _die_with_parent(args.parent)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # As benchmarks/__main__.py: the SDK's threads can abort a finalizing interpreter.
    os._exit(code)
