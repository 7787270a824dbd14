"""What is measured. Every figure of agentic-loop is taken beside the naive design's, in the
same run on the same server, alternating which goes first, so drift in the load of a shared
machine falls on both alike and the ratio stays meaningful when absolute times do not."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHandle

from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import AgentResult, AgentStatus
from benchmarks.harness import Batch, Bench, Design
from benchmarks.report import Figure, emit, growth_exponent, median, percentile, power_law
from benchmarks.workload import transcript_problem

SERIAL_REPS = {1: 20, 10: 12, 50: 6}
HISTORY_STEPS = (10, 50, 100, 500, 1000)
# The naive history passes Temporal's 50 MB limit a little after 200 steps (see the fit).
NAIVE_HISTORY_STEPS = (10, 50, 100, 200)
HISTORY_LIMIT_BYTES = 50 * 1024 * 1024
CONTINUE_AS_NEW_STEPS = 10_000


def alternate(ours: Design, naive: Design, rounds: int) -> Iterator[Design]:
    """ours, naive, naive, ours, ours, naive, ...: each goes first as often as the other."""
    for r in range(rounds):
        yield from (ours, naive) if r % 2 == 0 else (naive, ours)


def _cache_note(bench: Bench, before: tuple[int, int]) -> dict[str, int]:
    return {
        "transcript_cache_hits": bench.cache.hits - before[0],
        "transcript_cache_misses": bench.cache.misses - before[1],
    }


async def warm_up(bench: Bench, *designs: Design) -> None:
    """First runs import workflow code into the sandbox; no figure should pay for that."""
    for design in designs:
        await bench.conversation(design, 2)


async def serial(bench: Bench, ours: Design, naive: Design) -> list[Figure]:
    figures: list[Figure] = []
    for steps, reps in SERIAL_REPS.items():
        cache = (bench.cache.hits, bench.cache.misses)
        walls: dict[str, list[float]] = {ours.label: [], naive.label: []}
        for design in alternate(ours, naive, reps):
            seconds, _ = await bench.conversation(design, steps)
            walls[design.label].append(seconds)
        a, b = walls[ours.label], walls[naive.label]
        extra: dict[str, Any] = {"steps": steps, "reps": reps, **_cache_note(bench, cache)}
        for figure in (
            Figure("serial", f"S={steps} conversation, median", "s", median(a), median(b)),
            Figure(
                "serial", f"S={steps} conversation, p90", "s", percentile(a, 90), percentile(b, 90)
            ),
            Figure(
                "serial",
                f"S={steps} per step (median / S)",
                "ms",
                median(a) / steps * 1000,
                median(b) / steps * 1000,
                extra=extra,
            ),
        ):
            emit(figure.json_line())
            figures.append(figure)
    return figures


@dataclass
class HistorySize:
    """A conversation's history, summed over its runs when it continued as new."""

    events: int
    json_bytes: int
    # What the server stores and its 50 MB limit counts; to_json's indentation is not in it.
    proto_bytes: int
    runs: int
    # The largest single run: the limits apply to each run, not to the chain.
    largest_run_bytes: int


async def history_size(client: Client, handle: WorkflowHandle[Any, AgentResult]) -> HistorySize:
    """Walks back from the newest run through `continued_execution_run_id`."""
    total = HistorySize(0, 0, 0, 0, 0)
    run_id: str | None = None
    while True:
        run = handle if run_id is None else client.get_workflow_handle(handle.id, run_id=run_id)
        history = await run.fetch_history()
        json_bytes = len(history.to_json())
        total.events += len(history.events)
        total.json_bytes += json_bytes
        total.proto_bytes += History(events=history.events).ByteSize()
        total.runs += 1
        total.largest_run_bytes = max(total.largest_run_bytes, json_bytes)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return total


async def history(
    bench: Bench, ours: Design, naive: Design
) -> tuple[list[Figure], dict[str, list[tuple[int, float]]]]:
    """History size against steps. The naive design stops where Temporal would end it."""
    sizes: dict[str, dict[int, HistorySize]] = {ours.label: {}, naive.label: {}}
    for steps in sorted({*HISTORY_STEPS, *NAIVE_HISTORY_STEPS}):
        designs = [ours] if steps not in NAIVE_HISTORY_STEPS else list(alternate(ours, naive, 1))
        for design in designs:
            if design is ours and steps not in HISTORY_STEPS:
                continue
            cache = (bench.cache.hits, bench.cache.misses)
            seconds, handle = await bench.conversation(design, steps)
            size = await history_size(bench.client, handle)
            sizes[design.label][steps] = size
            emit(
                Figure(
                    "history",
                    f"S={steps} run ({design.label})",
                    "s",
                    seconds,
                    extra={"design": design.label, **vars(size), **_cache_note(bench, cache)},
                ).json_line()
            )
    points = {
        label: [(s, float(size.json_bytes)) for s, size in sorted(by_steps.items())]
        for label, by_steps in sizes.items()
    }
    naive_fit = power_law(points[naive.label])
    figures: list[Figure] = []
    for steps in HISTORY_STEPS:
        mine = sizes[ours.label][steps]
        theirs = sizes[naive.label].get(steps)
        note = "" if theirs is not None else "extrapolated"
        naive_bytes = (
            float(theirs.json_bytes) if theirs is not None else naive_fit[0] * steps ** naive_fit[1]
        )
        figures.append(
            Figure(
                "history",
                f"S={steps} bytes",
                "bytes",
                mine.json_bytes,
                naive_bytes,
                note,
                extra={
                    "proto_bytes": mine.proto_bytes,
                    "naive_proto_bytes": theirs.proto_bytes if theirs else None,
                },
            )
        )
        figures.append(
            Figure(
                "history",
                f"S={steps} events",
                "events",
                mine.events,
                theirs.events if theirs is not None else None,
                "" if theirs is not None else "not run: past the 50 MB limit",
            )
        )
    figures.append(
        Figure(
            "history",
            "growth exponent (log-log fit)",
            "",
            growth_exponent(points[ours.label]),
            growth_exponent(points[naive.label]),
            extra={"ours_steps": list(HISTORY_STEPS), "naive_steps": list(NAIVE_HISTORY_STEPS)},
        )
    )
    proto_fit = power_law([(s, float(v.proto_bytes)) for s, v in sizes[naive.label].items()])
    limit_steps = (HISTORY_LIMIT_BYTES / proto_fit[0]) ** (1 / proto_fit[1])
    figures.append(
        Figure(
            "history",
            "steps before the 50 MB history limit",
            "steps",
            HISTORY_LIMIT_BYTES / (sizes[ours.label][1000].proto_bytes / 1000),
            limit_steps,
            "fitted",
            extra={
                "explain": "agentic-loop: limit / bytes per step at S=1000; naive: the "
                "power law fitted to its stored (protobuf) history bytes"
            },
        )
    )
    for figure in figures:
        emit(figure.json_line())
    extrapolated = [
        (s, naive_fit[0] * s ** naive_fit[1]) for s in HISTORY_STEPS if s not in NAIVE_HISTORY_STEPS
    ]
    return figures, {**points, "naive_extrapolated": extrapolated}


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Batches:
    """Batches of two designs, run alternately, and the CPU this process spent on each."""

    runs: dict[str, list[Batch]]
    cpu_seconds: dict[str, float]
    cache_note: dict[str, int]

    def rate(self, label: str) -> float:
        done = self.runs[label]
        return sum(b.steps for b in done) / sum(b.wall_seconds for b in done)

    def latencies(self, label: str) -> list[float]:
        return [x for b in self.runs[label] for x in b.step_latencies]

    def cpu_ms(self, label: str) -> float:
        return self.cpu_seconds[label] / sum(b.steps for b in self.runs[label]) * 1000


async def alternate_batches(
    bench: Bench,
    first: Design,
    second: Design,
    *,
    rounds: int,
    concurrency: int,
    steps: int,
    latency: float,
) -> Batches:
    """`rounds` batches of `concurrency` conversations per design, alternating which goes
    first, with the process's CPU (worker and driving client) counted per design."""
    done = Batches({first.label: [], second.label: []}, {first.label: 0.0, second.label: 0.0}, {})
    cache = (bench.cache.hits, bench.cache.misses)
    for design in alternate(first, second, rounds):
        began = _cpu_seconds()
        done.runs[design.label].append(await bench.batch(design, concurrency, steps, latency))
        done.cpu_seconds[design.label] += _cpu_seconds() - began
    done.cache_note = _cache_note(bench, cache)
    return done


def batch_figures(
    batches: Batches,
    section: str,
    measured: Design,
    against: Design,
    names: tuple[str, str, str, str],
    *,
    extra: dict[str, Any],
    against_name: str = "naive",
) -> list[Figure]:
    """steps/s (carrying `extra`), p50 and p99 step latency and CPU per step of `measured`
    beside `against`, named by `names` in that order; each is printed as it is made."""
    a, b = measured.label, against.label
    rate, p50, p99, cpu = names
    figures = [
        Figure(
            section,
            rate,
            "steps/s",
            batches.rate(a),
            batches.rate(b),
            extra=extra,
            against=against_name,
        ),
        *(
            Figure(
                section,
                name,
                "ms",
                percentile(batches.latencies(a), q) * 1000,
                percentile(batches.latencies(b), q) * 1000,
                against=against_name,
            )
            for name, q in ((p50, 50), (p99, 99))
        ),
        Figure(section, cpu, "ms", batches.cpu_ms(a), batches.cpu_ms(b), against=against_name),
    ]
    for figure in figures:
        emit(figure.json_line())
    return figures


async def throughput(
    bench: Bench, ours: Design, naive: Design, concurrency: int, latency: float, rounds: int
) -> list[Figure]:
    """`concurrency` conversations of 10 steps started at once, `rounds` times per design."""
    steps = 10
    batches = await alternate_batches(
        bench, ours, naive, rounds=rounds, concurrency=concurrency, steps=steps, latency=latency
    )
    where = f"C={concurrency}, latency {latency:g} s"
    extra = {
        "concurrency": concurrency,
        "latency_s": latency,
        "steps": steps,
        "rounds": rounds,
        **batches.cache_note,
    }
    names = (
        f"{where}: steps/s",
        f"{where}: p50 step latency",
        f"{where}: p99 step latency",
        f"{where}: worker-process CPU per step",
    )
    return batch_figures(batches, "throughput", ours, naive, names, extra=extra)


async def long_conversation(bench: Bench, ours: Design, steps: int) -> Figure:
    """One conversation of `steps` steps, for the thousands-of-steps targets. It counts as
    completed only if it answered after every step and its whole transcript, read back through
    the `transcript` query across every continue-as-new run (`read_transcript`, what the
    `transcript` command uses), holds exactly the messages the script produced."""
    cache = (bench.cache.hits, bench.cache.misses)
    began = time.perf_counter()
    handle = await bench.start_conversation(ours, steps)
    result = await handle.result()
    seconds = time.perf_counter() - began
    size = await history_size(bench.client, handle)
    read_began = time.perf_counter()
    messages = await read_transcript(bench.client, handle.id)
    read_seconds = time.perf_counter() - read_began
    problem = transcript_problem(messages, steps)
    finished = result.status == AgentStatus.COMPLETED and result.turns == steps + 1
    figure = Figure(
        "long",
        f"S={steps} conversation",
        "s",
        seconds,
        extra={
            "completed": finished and problem is None,
            "status": str(result.status),
            "turns": result.turns,
            "tool_calls": result.tool_calls,
            "error": result.error,
            "transcript_messages": len(messages),
            "transcript_result_length": result.transcript_length,
            "transcript_problem": problem,
            "transcript_read_seconds": round(read_seconds, 2),
            # Summed over every run of the chain; largest_run_bytes is the one the limits see.
            "history": vars(size),
            **_cache_note(bench, cache),
        },
    )
    emit(figure.json_line())
    return figure


# The 10,000-step target runs by default now that AgentWorkflow continues as new (when the
# server suggests it, or after AgentInput.continue_as_new_after_events). It takes about four
# minutes of the full run; set this to False to leave it out (`--continue-as-new` still runs it).
CONTINUE_AS_NEW_HOOK_ENABLED = True
