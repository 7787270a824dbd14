"""`--sections scaleout`: 1, 2 and 4 worker processes on one task queue of one dev server.

What a deployment gains from a second and a fourth worker, and what it pays: every worker
has a transcript cache of its own, so a conversation's LLM call that lands on a worker that
did not serve its previous step misses the cache and reads the transcript back from the
workflow (a query). Worker affinity (on unless AGENTIC_LOOP_WORKER_AFFINITY=0) routes a
conversation's next LLM call to the worker that served the last; the 4-worker case is
measured with it off as well, to show what it is worth. The workers are separate processes
(worker_process.py) going through the plugin's own worker path, so whatever the plugin does
for its workers is what is measured.

Then a worker is killed (SIGKILL) in the middle of a conversation with a slow model: the
conversation must still complete, on the others, and the survivor that takes it over should
read its transcript back once, not once per step.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import AgentStatus
from benchmarks.fleet import AFFINITY_ENV, CacheCount, Fleet, cache_delta, fleet, serving_worker
from benchmarks.fleet import step_gaps as merged_step_gaps
from benchmarks.harness import Bench
from benchmarks.report import Figure, Target, check, emit, median, percentile
from benchmarks.workload import transcript_problem

SECTION = "scaleout"
WORKER_COUNTS = (1, 2, 4)
CONCURRENCY = 100
BATCH_STEPS = 10
SERIAL_STEPS = 50


@dataclass(frozen=True)
class Config:
    workers: int
    affinity: bool = True
    # Eager activity dispatch: the SDK asks, when a workflow task schedules an activity on
    # its own task queue and the worker has a free slot, that the server hand the activity
    # back in the task's completion, so it runs on the worker that ran the workflow task
    # (sticky: the conversation's own). The dev server grants it; a server with
    # system.enableActivityEagerExecution off does not, nor does a worker with no free slot.
    # Off, every LLM call goes through the task queue to whichever worker polls first: the
    # case worker affinity is for.
    eager: bool = True
    # AGENTIC_LOOP_WORKER_AFFINITY=always: routed from a conversation's first call, as
    # docs/production.md advises where the server starts no activity eagerly (the default,
    # auto, routes a conversation once a call of it came to the wrong worker).
    always: bool = False

    @property
    def label(self) -> str:
        plural = "worker" if self.workers == 1 else "workers"
        return (
            f"{self.workers} {plural}"
            + ("" if self.affinity else ", affinity off")
            + (", affinity always" if self.always else "")
            + ("" if self.eager else ", no eager activities")
        )

    @property
    def args(self) -> list[str]:
        return [] if self.eager else ["--no-eager-activities"]

    @property
    def env(self) -> dict[str, str | None]:
        # On is the plugin's default: the variable is left unset, as a deployment leaves it.
        if not self.affinity:
            return {AFFINITY_ENV: "0"}
        return {AFFINITY_ENV: "always" if self.always else None}


def plan(quick: bool) -> list[Config]:
    del quick  # every configuration is short; --quick runs fewer rounds of each
    return [
        *(Config(n) for n in WORKER_COUNTS),
        Config(4, affinity=False),
        Config(4, eager=False),
        Config(4, eager=False, always=True),
        Config(4, affinity=False, eager=False),
    ]


async def warm_up(bench: Bench, workers: Fleet, count: int) -> None:
    """Conversations on every worker (most likely), so none of the figures pays for the
    first import of the workflow's code into a worker's sandbox."""
    for _ in range(2):
        await asyncio.gather(*(bench.conversation(workers.design, 2) for _ in range(count)))


async def _batch(
    bench: Bench, workers: Fleet, concurrency: int, steps: int, latency: float
) -> tuple[float, list[float], CacheCount, list[int]]:
    """Wall seconds of `concurrency` conversations started at once, their step gaps, the
    cache's hits and misses over every worker, and how many LLM calls each worker answered."""
    before, _ = await workers.snapshot()
    began = time.perf_counter()

    async def one() -> None:
        await bench.finish(await bench.start_conversation(workers.design, steps, latency), steps)

    await asyncio.gather(*(one() for _ in range(concurrency)))
    wall = time.perf_counter() - began
    after, calls = await workers.snapshot()
    served = [after[pid].llm_calls - before[pid].llm_calls for pid in sorted(after)]
    return wall, merged_step_gaps(calls), cache_delta(before, after), served


async def measure_config(bench: Bench, config: Config, *, rounds: int, reps: int) -> list[Figure]:
    async with fleet(
        bench, config.workers, env=config.env, extra_args=config.args, name="scaleout"
    ) as workers:
        await warm_up(bench, workers, max(4, 2 * config.workers))
        walls: list[float] = []
        gaps: list[float] = []
        batch_cache = CacheCount(0, 0)
        served: list[int] = []
        for _ in range(rounds):
            wall, gap, cache, calls = await _batch(bench, workers, CONCURRENCY, BATCH_STEPS, 0.0)
            walls.append(wall)
            gaps += gap
            batch_cache += cache
            served = [a + b for a, b in zip(served or [0] * len(calls), calls, strict=True)]
        serial: list[float] = []
        before, _ = await workers.snapshot()
        for _ in range(reps):
            seconds, _ = await bench.conversation(workers.design, SERIAL_STEPS)
            serial.append(seconds)
        after, _ = await workers.snapshot()
        serial_cache = cache_delta(before, after)
    both = batch_cache + serial_cache
    where = config.label
    common: dict[str, Any] = {
        "workers": config.workers,
        "worker_affinity": config.affinity,
        "eager_activities": config.eager,
    }
    batch = f"C={CONCURRENCY} S={BATCH_STEPS} latency 0"
    figures = [
        Figure(
            SECTION,
            f"{where}: {batch}: steps/s",
            "steps/s",
            CONCURRENCY * BATCH_STEPS * rounds / sum(walls),
            extra={
                **common,
                "rounds": rounds,
                "walls_s": [round(w, 2) for w in walls],
                "llm_calls_per_worker": served,
                **batch_cache.note(),
            },
        ),
        Figure(SECTION, f"{where}: {batch}: p50 step", "ms", percentile(gaps, 50) * 1000),
        Figure(SECTION, f"{where}: {batch}: p95 step", "ms", percentile(gaps, 95) * 1000),
        Figure(
            SECTION,
            f"{where}: S={SERIAL_STEPS} serial per step (median / S)",
            "ms",
            median(serial) / SERIAL_STEPS * 1000,
            extra={
                **common,
                "reps": reps,
                "walls_s": [round(s, 2) for s in serial],
                **serial_cache.note(),
            },
        ),
        Figure(
            SECTION,
            f"{where}: transcript cache hits",
            "%",
            100 * (both.hit_rate or 0.0),
            extra={**common, **both.note()},
        ),
    ]
    for figure in figures:
        emit(figure.json_line())
    return figures


async def killed_worker(
    bench: Bench, config: Config, *, steps: int = 20, latency: float = 0.5
) -> list[Figure]:
    """One conversation of `steps` steps at `latency` s a call, once undisturbed (the
    baseline) and once with the worker serving it SIGKILLed after half its steps."""
    workers = config.workers
    async with fleet(
        bench, workers, env=config.env, extra_args=config.args, name="killed"
    ) as running:
        await warm_up(bench, running, max(4, 2 * workers))
        baseline, _ = await bench.conversation(running.design, steps, latency)
        before, _ = await running.snapshot()  # fresh: the baseline's last calls counted
        began = time.perf_counter()
        handle = await bench.start_conversation(running.design, steps, latency)
        half = steps // 2
        victim = None
        while victim is None:
            await asyncio.sleep(0.1)
            now = running.stats()
            calls = sum(s.llm_calls - before[pid].llm_calls for pid, s in now.items())
            if calls > half:
                victim = serving_worker(now.values(), handle.id)
        running.kill(victim.pid)
        killed_at = time.perf_counter() - began
        survivors, _ = await running.snapshot()
        result = await handle.result()
        wall = time.perf_counter() - began
        after, _ = await running.snapshot()
        reads = cache_delta(survivors, after)
        messages = await read_transcript(bench.client, handle.id)
    problem = transcript_problem(messages, steps)
    completed = (
        result.status == AgentStatus.COMPLETED and result.tool_calls == steps and problem is None
    )
    where = f"{config.label}, S={steps} at {latency:g} s, one SIGKILLed"
    extra: dict[str, Any] = {
        "workers": workers,
        "worker_affinity": config.affinity,
        "eager_activities": config.eager,
        "completed": completed,
        "status": str(result.status),
        "tool_calls": result.tool_calls,
        "transcript_problem": problem,
        "baseline_s": round(baseline, 2),
        "killed_after_s": round(killed_at, 2),
        "killed_after_llm_calls": calls,
        "killed_pid": victim.pid,
        # Reads of the transcript back from the workflow: the survivors' cache misses.
        "transcript_reads": reads.misses,
        **reads.note(),
    }
    figures = [
        Figure(SECTION, f"{where}: conversation", "s", wall, extra=extra),
        Figure(SECTION, f"{where}: extra wall time", "s", wall - baseline),
        Figure(SECTION, f"{where}: transcript reads after the kill", "reads", reads.misses),
    ]
    for figure in figures:
        emit(figure.json_line())
    return figures


async def paired_serial(bench: Bench, *, workers: int = 4, reps: int = 6) -> list[Figure]:
    """S=50 serial per step on 1 worker and on `workers`, both fleets up at once and the
    conversations alternating between them (1, N, N, 1, ...), so the drift in a shared
    machine's load falls on both alike: the ratio the target holds, which measurements minutes
    apart (the per-configuration figures above) cannot give on a loaded machine."""
    one_config, many_config = Config(1), Config(workers)
    async with (
        fleet(bench, 1, env=one_config.env, name="paired") as one,
        fleet(bench, workers, env=many_config.env, name="paired") as several,
    ):
        await warm_up(bench, one, 4)
        await warm_up(bench, several, max(4, 2 * workers))
        walls: dict[int, list[float]] = {1: [], workers: []}
        for r in range(reps):
            order = (one, several) if r % 2 == 0 else (several, one)
            for running in order:
                seconds, _ = await bench.conversation(running.design, SERIAL_STEPS)
                walls[len(running.processes)].append(seconds)
    single = median(walls[1]) / SERIAL_STEPS * 1000
    spread = median(walls[workers]) / SERIAL_STEPS * 1000
    figure = Figure(
        SECTION,
        f"S={SERIAL_STEPS} per step, {workers} workers / 1 worker (alternating)",
        "",
        spread / single,
        extra={
            "per_step_ms_1_worker": round(single, 2),
            f"per_step_ms_{workers}_workers": round(spread, 2),
            "reps": reps,
            "walls_s": {str(k): [round(w, 2) for w in v] for k, v in walls.items()},
        },
    )
    emit(figure.json_line())
    return [figure]


async def run(bench: Bench, quick: bool) -> list[Figure]:
    figures: list[Figure] = []
    for config in plan(quick):
        figures += await measure_config(
            bench, config, rounds=1 if quick else 2, reps=2 if quick else 3
        )
    figures += await paired_serial(bench, reps=4 if quick else 8)
    for config in (Config(4), Config(4, eager=False, always=True)):
        figures += await killed_worker(bench, config, steps=10 if quick else 20)
    return figures


def _figure(figures: list[Figure], name: str) -> Figure | None:
    return next((f for f in figures if f.section == SECTION and f.name == name), None)


def targets(figures: list[Figure]) -> list[Target]:
    """4 workers keep the cache's hit rate and one worker's per-step time; a killed worker
    costs its conversation one transcript read, and the conversation completes."""
    four, one = Config(4).label, Config(1).label
    hits = _figure(figures, f"{four}: transcript cache hits")
    serial_name = f"S={SERIAL_STEPS} serial per step (median / S)"
    per_step_4 = _figure(figures, f"{four}: {serial_name}")
    per_step_1 = _figure(figures, f"{one}: {serial_name}")
    paired = _figure(figures, f"S={SERIAL_STEPS} per step, 4 workers / 1 worker (alternating)")
    if paired is not None:
        ratio: float | None = paired.ours
    else:  # measured minutes apart: the load may have changed in between
        ratio = per_step_4.ours / per_step_1.ours if per_step_4 and per_step_1 else None
    lazy_config = Config(4, eager=False, always=True)
    lazy = _figure(figures, f"{lazy_config.label}: transcript cache hits")
    killed_runs = [
        f for f in figures if f.section == SECTION and f.name.endswith("SIGKILLed: conversation")
    ]
    found = [
        check("4 workers: transcript cache hits, %", hits.ours if hits else None, at_least=95),
        check(
            f"{lazy_config.label}: transcript cache hits, %",
            lazy.ours if lazy else None,
            at_least=95,
        ),
        check("4 workers: S=50 per step, ratio to 1 worker", ratio, at_most=1.10),
    ]
    if not killed_runs:
        found.append(Target("killed worker: conversation completes", "SKIP", "not run", "yes"))
    for killed in killed_runs:
        where = killed.name.removesuffix(": conversation")
        problem = killed.extra.get("transcript_problem")
        found.append(
            Target(
                f"{where}: completes",
                "PASS" if killed.extra.get("completed") else "FAIL",
                f"{killed.extra.get('status')} in {killed.ours:.1f} s "
                f"(undisturbed {killed.extra.get('baseline_s')} s)"
                + ("" if problem is None else f", transcript WRONG: {problem}"),
                "completed, transcript intact",
            )
        )
        found.append(
            check(
                f"{where}: transcript reads after the kill",
                killed.extra.get("transcript_reads"),
                at_most=1,
                shown="{:.0f}",
            )
        )
    return found
