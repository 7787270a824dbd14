"""Worker processes (worker_process.py) on one task queue of the bench's dev server: started,
read through their stats files, killed, and always stopped when the block ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from agentic_loop.workflow import WORKFLOW_NAME
from benchmarks.harness import OURS, Bench, Design

# Where the worker processes keep their stats files and their logs (stderr).
WORK_DIR = Path("build/bench/workers")
READY_SECONDS = 120.0
AFFINITY_ENV = "AGENTIC_LOOP_WORKER_AFFINITY"


@dataclass(frozen=True)
class WorkerStats:
    """One stats file of a worker process, as it was when read."""

    pid: int
    hits: int = 0
    misses: int = 0
    rss_bytes: int = 0
    peak_rss_bytes: int = 0
    cache_bytes: int = 0
    cache_max_bytes: int = 0
    cache_conversations: int = 0
    llm_calls: int = 0
    last_workflow: str = ""
    last_call_at: float = 0.0
    dumps: int = 0
    written_at: float = 0.0
    ready: bool = False
    max_cached_workflows: int | None = None

    @classmethod
    def parse(cls, text: str) -> WorkerStats:
        data = json.loads(text)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class CacheCount:
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float | None:
        """hits / lookups; None when there was none."""
        total = self.hits + self.misses
        return self.hits / total if total else None

    def __add__(self, other: CacheCount) -> CacheCount:
        return CacheCount(self.hits + other.hits, self.misses + other.misses)

    def note(self) -> dict[str, Any]:
        rate = self.hit_rate
        return {
            "transcript_cache_hits": self.hits,
            "transcript_cache_misses": self.misses,
            "hit_rate": None if rate is None else round(rate, 4),
        }


def cache_delta(
    before: Mapping[int, WorkerStats],
    after: Mapping[int, WorkerStats],
    only: Iterable[int] | None = None,
) -> CacheCount:
    """Hits and misses between two readings, summed over the workers (by pid) of `after`, or
    of `only`; a worker with no reading before counts from zero, one gone after (killed)
    counts nothing, since what it did after its last reading is lost with it."""
    pids = set(after) if only is None else set(only) & set(after)
    hits = misses = 0
    for pid in pids:
        old = before.get(pid)
        hits += after[pid].hits - (old.hits if old else 0)
        misses += after[pid].misses - (old.misses if old else 0)
    return CacheCount(hits, misses)


def step_gaps(calls: Iterable[Mapping[str, Sequence[float]]]) -> list[float]:
    """Seconds between consecutive LLM calls of each conversation, from the call times of
    every worker (one mapping of workflow id to times each), merged per conversation: its
    steps may have been served by different processes, on the machine's one monotonic
    clock."""
    merged: dict[str, list[float]] = {}
    for served in calls:
        for workflow_id, times in served.items():
            merged.setdefault(workflow_id, []).extend(times)
    return [b - a for times in merged.values() for a, b in pairwise(sorted(times))]


def serving_worker(stats: Iterable[WorkerStats], workflow_id: str) -> WorkerStats | None:
    """The worker whose latest LLM call was `workflow_id`'s, the latest of them if several."""
    serving = [s for s in stats if s.last_workflow == workflow_id]
    return max(serving, key=lambda s: s.last_call_at, default=None)


def worker_env(overrides: Mapping[str, str | None]) -> dict[str, str]:
    """This environment with `overrides` (None removes the variable): the workers read their
    settings from it, as a deployment's do."""
    env = dict(os.environ)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    # The workers import this checkout's benchmarks (and src, when PYTHONPATH names it).
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path.cwd()), env.get("PYTHONPATH", "")) if p
    )
    return env


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    stats_path: Path
    log_path: Path


@dataclass
class Fleet:
    """N worker processes polling `task_queue` of the bench's server."""

    bench: Bench
    task_queue: str
    directory: Path
    processes: dict[int, _Process] = field(default_factory=dict)

    @property
    def design(self) -> Design:
        return Design(OURS, WORKFLOW_NAME, self.task_queue)

    @property
    def pids(self) -> list[int]:
        return [pid for pid, p in self.processes.items() if p.popen.poll() is None]

    def spawn(self, env: Mapping[str, str], extra_args: Sequence[str] = ()) -> int:
        index = len(self.processes)
        stats_path = self.directory / f"worker-{index}.json"
        log_path = self.directory / f"worker-{index}.log"
        config = self.bench.client.service_client.config
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.worker_process",
                    "--address",
                    config.target_host,
                    "--namespace",
                    self.bench.client.namespace,
                    "--task-queue",
                    self.task_queue,
                    "--stats",
                    str(stats_path),
                    "--parent",
                    str(os.getpid()),
                    *extra_args,
                ],
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes[popen.pid] = _Process(popen, stats_path, log_path)
        return popen.pid

    def _read(self, pid: int) -> WorkerStats | None:
        try:
            return WorkerStats.parse(self.processes[pid].stats_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _check_alive(self, pid: int) -> None:
        process = self.processes[pid]
        code = process.popen.poll()
        if code is not None:
            tail = process.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"worker process {pid} exited with {code}:\n{tail}")

    async def wait_ready(self, within: float = READY_SECONDS) -> None:
        deadline = time.monotonic() + within
        waiting = set(self.pids)
        while waiting:
            for pid in list(waiting):
                self._check_alive(pid)
                stats = self._read(pid)
                if stats is not None and stats.ready:
                    waiting.discard(pid)
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker processes {sorted(waiting)} not ready in {within} s")
            await asyncio.sleep(0.1)

    def stats(self) -> dict[int, WorkerStats]:
        """The latest stats file of every live worker (up to STATS_INTERVAL old)."""
        found = {pid: self._read(pid) for pid in self.pids}
        return {pid: s for pid, s in found.items() if s is not None}

    async def snapshot(
        self, within: float = 30.0
    ) -> tuple[dict[int, WorkerStats], list[dict[str, list[float]]]]:
        """Fresh stats of every live worker, and the LLM call times each recorded since the
        last snapshot (which it then forgets): SIGUSR1, and wait for `dumps` to go up."""
        before = self.stats()
        pids = [pid for pid in self.pids if pid in before]
        for pid in pids:
            os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + within
        fresh: dict[int, WorkerStats] = {}
        while len(fresh) < len(pids):
            for pid in pids:
                if pid in fresh:
                    continue
                self._check_alive(pid)
                stats = self._read(pid)
                if stats is not None and stats.dumps > before[pid].dumps:
                    fresh[pid] = stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker processes did not answer SIGUSR1 in {within} s")
            await asyncio.sleep(0.05)
        calls = []
        for pid in pids:
            path = self.processes[pid].stats_path
            calls_path = path.with_name(path.name + ".calls")
            calls.append(json.loads(calls_path.read_text(encoding="utf-8")))
        return fresh, calls

    def kill(self, pid: int) -> None:
        """SIGKILL: the worker gets no chance to finish anything, as in a crash."""
        process = self.processes[pid]
        with contextlib.suppress(ProcessLookupError):
            process.popen.send_signal(signal.SIGKILL)
        process.popen.wait()

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM every worker, and SIGKILL whichever is still there after `grace` seconds."""
        live = [p.popen for p in self.processes.values() if p.popen.poll() is None]
        for popen in live:
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for popen in live:
            try:
                popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                popen.wait()


@contextlib.asynccontextmanager
async def fleet(
    bench: Bench,
    workers: int,
    *,
    env: Mapping[str, str | None] | None = None,
    extra_args: Sequence[str] = (),
    name: str = "fleet",
) -> AsyncIterator[Fleet]:
    """`workers` processes on a new task queue, ready; stopped (killed if need be) however
    the block ends."""
    directory = WORK_DIR / f"{name}-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True, exist_ok=True)
    started = Fleet(bench, f"bench-{uuid.uuid4()}", directory)
    environment = worker_env(env or {})
    try:
        for _ in range(workers):
            started.spawn(environment, extra_args)
        await started.wait_ready()
        yield started
    finally:
        started.stop_all()
