"""`--sections many`: 10,000 conversations through one worker process, 1,000 open at a time.

What one worker's memory does when far more conversations pass through it than its caches
hold: the transcript cache is bounded in bytes (AGENTIC_LOOP_CACHE_MB) and the workflow cache
in workflows (`max_cached_workflows`), so the worker's peak RSS must stay under the first plus
a fixed overhead, however many conversations there are; and every conversation must complete.
The worker is a process of its own (worker_process.py), so its RSS (VmHWM, the kernel's own
peak) is its alone, not the bench's or the server's.

The cache bound is set to CACHE_MB, far below what 10,000 conversations of 10 steps weigh
(some 20 KB each by the cache's estimate, 200 MB in all), so the cache really evicts, by
bytes, and the bound is what is tested; the 1,000 open at a time (IN_FLIGHT, some 20 MB) fit
in it, as a deployment sizes its cache for the conversations it serves at once. Each waits
1 s for every model call. (All 10,000 open at once, as first tried, exceed the worker's
workflow cache of 2,000: every step then replays its workflow and reads its transcript back,
and on 2 cores the run took well over an hour; that measures an undersized worker, not the
bound.)

The stated overhead is measured, not guessed: the RSS of the worker idle after a warm-up,
plus its workflow cache full (`max_cached_workflows` workflows), at what one cached workflow
of this length costs; a separate worker process measures that first (`calibrate`).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.client import WorkflowHandle

from agentic_loop.types import AgentResult
from benchmarks.fleet import Fleet, WorkerStats, fleet
from benchmarks.harness import Bench
from benchmarks.report import Figure, Target, check, emit
from benchmarks.scaleout import warm_up
from benchmarks.workload import bench_input

SECTION = "many"
CONVERSATIONS = 10_000
QUICK_CONVERSATIONS = 1_000
STEPS = 10
LATENCY = 1.0
# 1,000 open conversations of up to 10 steps weigh ~20 MB by the cache's estimate: 32 MiB
# holds them, and evicts the finished ones (10,000 in all, ~200 MB) by bytes. --quick: 1,000
# conversations, 250 open at a time, in 8 MiB.
CACHE_MB = 32
QUICK_CACHE_MB = 8
IN_FLIGHT = 1000
QUICK_IN_FLIGHT = 250
# The whole cache (conversations and the messages its activities produced) stays within its
# bound (transcript/cache.py).
CACHE_SHARE = 1.0
STARTING = 200  # start requests in flight at once: as fast as the client goes
WAITING = 1000  # result long-polls in flight at once
CALIBRATION_WORKFLOWS = 150  # under the worker's 200 activity slots
CALIBRATION_LATENCY = 600.0
PROGRESS_SECONDS = 30.0


@dataclass(frozen=True)
class Overhead:
    """What a worker holds besides its transcript cache, in bytes."""

    idle_rss: int
    max_cached_workflows: int
    per_workflow: float

    @property
    def workflow_cache(self) -> int:
        return round(self.max_cached_workflows * max(self.per_workflow, 0.0))

    @property
    def total(self) -> int:
        return self.idle_rss + self.workflow_cache


def per_workflow_bytes(idle: WorkerStats, loaded: WorkerStats, workflows: int) -> float:
    """The RSS one cached workflow adds: from a worker's idle reading and one with `workflows`
    open at once, less what its transcript cache grew by between them."""
    grown = loaded.rss_bytes - idle.rss_bytes
    cached = loaded.cache_bytes - idle.cache_bytes
    return (grown - cached) / workflows


def memory_bound(cache_max_bytes: int, overhead: Overhead) -> int:
    """Peak RSS allowed: the transcript cache full (both of its parts) and the overhead."""
    return round(cache_max_bytes * CACHE_SHARE) + overhead.total


async def _steady(workers: Fleet, settle: float = 3.0, within: float = 180.0) -> WorkerStats:
    """The worker's stats once its RSS has stopped growing for `settle` seconds."""
    deadline = time.monotonic() + within
    (pid,) = workers.pids
    last = workers.stats()[pid]
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = workers.stats()[pid]
        if now.rss_bytes > last.rss_bytes + 1024 * 1024:
            quiet_since = time.monotonic()
        last = now if now.rss_bytes > last.rss_bytes else last
        if time.monotonic() - quiet_since >= settle:
            return now
    return last


async def calibrate(bench: Bench, env: dict[str, str | None]) -> tuple[WorkerStats, float, int]:
    """A worker's idle stats, what one cached workflow costs it, and its max_cached_workflows.

    CALIBRATION_WORKFLOWS conversations of the section's length, on a worker of their own,
    answered at once but for the final call, which waits: each is held open at its full
    length (a cached workflow carries its transcript and history, so it costs more the longer
    the conversation), then terminated. Fewer than the activity slots, or the held final calls
    would keep the others from getting there."""
    async with fleet(bench, 1, env=env, extra_args=["--no-calls"], name="calibrate") as workers:
        await warm_up(bench, workers, 10)
        idle, _ = await workers.snapshot()
        (stats,) = idle.values()
        held = stats.max_cached_workflows or 0
        count = CALIBRATION_WORKFLOWS
        design = workers.design

        async def start() -> WorkflowHandle[Any, AgentResult]:
            return await bench.client.start_workflow(
                design.workflow,
                bench_input(STEPS, 0.0, last_latency=CALIBRATION_LATENCY),
                id=f"calibrate-{uuid.uuid4()}",
                task_queue=design.task_queue,
                result_type=AgentResult,
            )

        handles = await asyncio.gather(*(start() for _ in range(count)))
        deadline = time.monotonic() + 300
        (pid,) = workers.pids
        while workers.stats()[pid].llm_calls < stats.llm_calls + count * (STEPS + 1):
            if time.monotonic() > deadline:
                raise TimeoutError("the calibration's conversations did not reach their answer")
            await asyncio.sleep(0.5)
        loaded = await _steady(workers)
        await asyncio.gather(*(h.terminate("calibrated") for h in handles))
    return stats, per_workflow_bytes(stats, loaded, count), held


def _why(error: BaseException) -> str:
    """An error and its causes (WorkflowFailureError says only that the workflow failed)."""
    chain = []
    while error is not None and len(chain) < 5:
        chain.append(f"{type(error).__name__}: {error}"[:300])
        error = error.__cause__  # type: ignore[assignment]
    return " <- ".join(chain)


class _Watch:
    """The worker's highest RSS seen, and a progress line on stderr now and then."""

    def __init__(self, workers: Fleet, total: int) -> None:
        self.workers = workers
        self.total = total
        self.done = 0
        self.failed = 0
        self.started = 0
        self.max_rss = 0
        self.last: WorkerStats | None = None

    async def run(self) -> None:
        began = time.monotonic()
        told = began
        while True:
            await asyncio.sleep(1.0)
            for stats in self.workers.stats().values():
                self.last = stats
                self.max_rss = max(self.max_rss, stats.rss_bytes)
            if time.monotonic() - told >= PROGRESS_SECONDS and self.last is not None:
                told = time.monotonic()
                s = self.last
                mib = 2**20
                print(
                    f"[many] {told - began:.0f} s: {self.started} started, {self.done} of "
                    f"{self.total} done ({self.failed} failed), {s.llm_calls} LLM calls, "
                    f"RSS {s.rss_bytes / mib:.0f} MiB (peak {s.peak_rss_bytes / mib:.0f}), "
                    f"cache {s.cache_bytes / mib:.0f} MiB in {s.cache_conversations} "
                    f"conversations, hits {s.hits} misses {s.misses}",
                    file=sys.stderr,
                    flush=True,
                )


async def run(bench: Bench, quick: bool) -> list[Figure]:
    count = QUICK_CONVERSATIONS if quick else CONVERSATIONS
    cache_mb = QUICK_CACHE_MB if quick else CACHE_MB
    env: dict[str, str | None] = {"AGENTIC_LOOP_CACHE_MB": str(cache_mb)}
    calibration_idle, per_workflow, held = await calibrate(bench, env)
    async with fleet(bench, 1, env=env, extra_args=["--no-calls"], name="many") as workers:
        await warm_up(bench, workers, 10)
        idle, _ = await workers.snapshot()
        (before,) = idle.values()
        overhead = Overhead(before.rss_bytes, held, per_workflow)
        watch = _Watch(workers, count)
        watching = asyncio.create_task(watch.run())
        starting = asyncio.Semaphore(STARTING)
        waiting = asyncio.Semaphore(WAITING)
        open_at_once = asyncio.Semaphore(QUICK_IN_FLIGHT if quick else IN_FLIGHT)
        started_all = asyncio.get_running_loop().create_future()

        async def one() -> None:
            async with open_at_once:
                await _one()

        async def _one() -> None:
            async with starting:
                handle = await bench.start_conversation(workers.design, STEPS, LATENCY)
            watch.started += 1
            if watch.started == count:
                started_all.set_result(time.perf_counter())
            try:
                async with waiting:
                    await bench.finish(handle, STEPS)
            except Exception:
                watch.failed += 1
                raise
            finally:
                watch.done += 1

        began = time.perf_counter()
        try:
            outcomes = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        finally:
            watching.cancel()
        wall = time.perf_counter() - began
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        after, _ = await workers.snapshot()
        (end,) = after.values()
    start_seconds = started_all.result() - began if started_all.done() else float("nan")
    hits, misses = end.hits - before.hits, end.misses - before.misses
    bound = memory_bound(end.cache_max_bytes, overhead)
    where = f"{count:,} conversations, S={STEPS} at {LATENCY:g} s"
    memory: dict[str, Any] = {
        "peak_rss_bytes": end.peak_rss_bytes,
        "max_sampled_rss_bytes": max(watch.max_rss, end.rss_bytes),
        "end_rss_bytes": end.rss_bytes,
        "idle_rss_bytes": overhead.idle_rss,
        "calibration_idle_rss_bytes": calibration_idle.rss_bytes,
        "cache_mb": cache_mb,
        "cache_max_bytes": end.cache_max_bytes,
        "cache_share": CACHE_SHARE,
        "cache_bytes_at_end": end.cache_bytes,
        "cache_conversations_at_end": end.cache_conversations,
        "max_cached_workflows": held,
        "per_cached_workflow_bytes": round(per_workflow),
        "workflow_cache_bytes": overhead.workflow_cache,
        "overhead_bytes": overhead.total,
        "bound_bytes": bound,
    }
    figures = [
        Figure(
            SECTION,
            f"{where}: completed",
            "conversations",
            count - len(failed),
            extra={
                "conversations": count,
                "failed": len(failed),
                "first_failures": [_why(f) for f in failed[:3]],
            },
        ),
        Figure(SECTION, f"{where}: wall", "s", wall, extra={"all_started_after_s": start_seconds}),
        Figure(SECTION, f"{where}: steps/s", "steps/s", (count - len(failed)) * STEPS / wall),
        Figure(SECTION, f"{where}: worker peak RSS", "bytes", end.peak_rss_bytes, extra=memory),
        Figure(
            SECTION,
            f"{where}: RSS bound (cache x {CACHE_SHARE:g} + overhead)",
            "bytes",
            bound,
        ),
        Figure(
            SECTION,
            f"{where}: transcript cache hits",
            "%",
            100 * hits / (hits + misses) if hits + misses else 0.0,
            extra={"transcript_cache_hits": hits, "transcript_cache_misses": misses},
        ),
    ]
    for figure in figures:
        emit(figure.json_line())
    return figures


def targets(figures: list[Figure]) -> list[Target]:
    """Every conversation completes; the worker's peak RSS stays within the bound."""
    completed = next(
        (f for f in figures if f.section == SECTION and f.name.endswith(": completed")), None
    )
    peak = next(
        (f for f in figures if f.section == SECTION and f.name.endswith(": worker peak RSS")), None
    )
    if completed is None or peak is None:
        return [
            Target("many conversations: all complete", "SKIP", "not run", "all"),
            Target("many conversations: worker peak RSS, MiB", "SKIP", "not run", "<= bound"),
        ]
    total = completed.extra["conversations"]
    bound = peak.extra["bound_bytes"]
    return [
        Target(
            "many conversations: all complete",
            "PASS" if completed.ours == total else "FAIL",
            f"{completed.ours:.0f} of {total}",
            "all",
        ),
        check(
            f"many conversations: worker peak RSS, MiB (bound: cache {peak.extra['cache_mb']} MiB"
            f" x {CACHE_SHARE:g} + idle {peak.extra['idle_rss_bytes'] / 2**20:.0f} MiB + "
            f"{peak.extra['max_cached_workflows']} cached workflows x "
            f"{peak.extra['per_cached_workflow_bytes'] / 1024:.0f} KiB)",
            peak.ours / 2**20,
            at_most=bound / 2**20,
            shown="{:.0f}",
        ),
    ]
