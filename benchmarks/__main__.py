"""`python -m benchmarks` (what `nox -s bench` runs): agentic-loop against the naive design.

Prints one JSON line per figure as it is measured, then a table and the targets. The full run
takes 13 to 17 minutes on 2 cores (about four of them the 10,000-step conversation) before the
big-payload section (a 10 MB tool result and a 1 MB reply, under a minute) and the two
sections of worker processes: `scaleout` (1, 2 and 4 worker processes, about 7 minutes)
and `many` (10,000 conversations against one worker process, over an hour on 2 cores);
`--quick` leaves out C=1000, the 1 s model latency and the 10,000-step conversation, and runs
`many` with 1,000 conversations.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
from pathlib import Path

from benchmarks import big_payloads, many, scaleout, scenarios, startup, tuning
from benchmarks.harness import Bench
from benchmarks.report import Figure, Target, check, emit, machine, plot_history, table

SECTIONS = (
    "startup",
    "serial",
    "history",
    "throughput",
    "long",
    "payloads",
    "scaleout",
    "many",
)
# Sections on the one server and in-process workers of `Bench.start()` with the naive design;
# scaleout and many start worker processes of their own, each on a server of its own.
IN_PROCESS = ("serial", "history", "throughput", "long")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="leave out C=1000, the 1 s model latency and the 10,000-step conversation, and "
        "run 1,000 conversations rather than 10,000 in `many` (for development)",
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--continue-as-new",
        action="store_true",
        help="run the 10,000-step continue-as-new target even if "
        "scenarios.CONTINUE_AS_NEW_HOOK_ENABLED is False",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="instead of the targets, compare worker settings with the shipped "
        "ones (the figures behind the recommended defaults)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path("docs/history-growth.png"),
        help="where to draw history bytes against steps (needs matplotlib)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("build/bench/results.jsonl"),
        help="where to keep every JSON line of this run",
    )
    args = parser.parse_args(argv)
    args.sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = args.sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {SECTIONS}")
    return args


def _find(figures: list[Figure], section: str, name: str) -> Figure | None:
    return next((f for f in figures if f.section == section and f.name == name), None)


def _ratio(figures: list[Figure], section: str, name: str) -> float | None:
    figure = _find(figures, section, name)
    return figure.ratio if figure is not None else None


def targets(figures: list[Figure], long_runs: dict[int, Figure], can_run: bool) -> list[Target]:
    exponent = _find(figures, "history", "growth exponent (log-log fit)")
    help_wall = _find(figures, "startup", "agentic-loop --help (median wall)")
    quick_wall = _find(figures, "startup", "quick start: agentic-loop run (median wall)")
    found = [
        check("agentic-loop --help, s", help_wall.ours if help_wall else None, at_most=0.3),
        check(
            "quick start (run, embedded server), s",
            quick_wall.ours if quick_wall else None,
            at_most=1.0,
        ),
        check(
            "per step at S=10, ratio to naive",
            _ratio(figures, "serial", "S=10 per step (median / S)"),
            at_most=0.75,
        ),
        check(
            "per step at S=50, ratio to naive",
            _ratio(figures, "serial", "S=50 per step (median / S)"),
            at_most=0.75,
        ),
        check(
            "throughput at C=100 (latency 0), ratio to naive",
            _ratio(figures, "throughput", "C=100, latency 0 s: steps/s"),
            at_least=1.5,
        ),
        check(
            "history bytes at S=100, ratio to naive",
            _ratio(figures, "history", "S=100 bytes"),
            at_most=1 / 12,
            shown="{:.4f}",
        ),
        check("history growth exponent", exponent.ours if exponent else None, at_most=1.1),
    ]
    for steps, label in (
        (1000, "S=1,000 completes in one run"),
        (10_000, "S=10,000 completes through continue-as-new"),
    ):
        figure = long_runs.get(steps)
        if figure is None and steps == 10_000 and not can_run:
            found.append(
                Target(
                    label,
                    "SKIP",
                    "not run: --quick, or scenarios.CONTINUE_AS_NEW_HOOK_ENABLED is False "
                    "(--continue-as-new runs it)",
                    "completed, transcript intact",
                )
            )
        elif figure is None:
            found.append(
                Target(label, "SKIP", "not measured in this run", "completed, transcript intact")
            )
        else:
            done = bool(figure.extra.get("completed"))
            history = figure.extra.get("history", {})
            problem = figure.extra.get("transcript_problem")
            found.append(
                Target(
                    label,
                    "PASS" if done else "FAIL",
                    f"{figure.extra.get('status')} after {figure.ours:.1f} s, "
                    f"{figure.extra.get('turns')} LLM turns, {history.get('runs')} run(s), "
                    f"transcript of {figure.extra.get('transcript_messages')} messages "
                    + ("intact" if problem is None else f"WRONG: {problem}"),
                    "completed, transcript intact",
                )
            )
    longest = long_runs.get(10_000)
    read_back = longest.extra.get("transcript_read_seconds") if longest is not None else None
    found.append(check("S=10,000 transcript read back, s", read_back, at_most=10.0))
    return found


async def _targets_run(args: argparse.Namespace) -> int:
    figures: list[Figure] = []
    long_runs: dict[int, Figure] = {}
    can_run = args.continue_as_new or (scenarios.CONTINUE_AS_NEW_HOOK_ENABLED and not args.quick)
    if "startup" in args.sections:
        # First, alone: the other sections' servers and workers would share the 2 cores.
        figures += startup.measure()
    if args.sections & set(IN_PROCESS):
        await _in_process_run(args, figures, long_runs, can_run)
    if "payloads" in args.sections:
        figures += await big_payloads.measure()  # a server of its own, with a payload store
    if "scaleout" in args.sections:
        async with Bench.start() as bench:
            figures += await scaleout.run(bench, args.quick)
    if "many" in args.sections:
        async with Bench.start() as bench:
            figures += await many.run(bench, args.quick)
    found = targets(figures, long_runs, can_run)
    found += big_payloads.targets(figures) + scaleout.targets(figures) + many.targets(figures)
    for target in found:
        emit(target.json_line())
    print()
    print(table(figures, found))
    return 0 if all(t.verdict in ("PASS", "HOOK", "SKIP") for t in found) else 1


async def _in_process_run(
    args: argparse.Namespace, figures: list[Figure], long_runs: dict[int, Figure], can_run: bool
) -> None:
    async with Bench.start() as bench:
        ours, naive, _ = await bench.shipped_designs()
        await scenarios.warm_up(bench, ours, naive)
        if "serial" in args.sections:
            figures += await scenarios.serial(bench, ours, naive)
        if "history" in args.sections:
            sized, points = await scenarios.history(bench, ours, naive)
            figures += sized
            if plot_history(
                points[ours.label], points[naive.label], args.plot, points["naive_extrapolated"]
            ):
                emit(json.dumps({"kind": "plot", "path": str(args.plot)}))
            else:
                emit(
                    json.dumps(
                        {
                            "kind": "plot",
                            "path": None,
                            "why": "matplotlib is not installed (nox -s bench installs it)",
                        }
                    )
                )
        if "throughput" in args.sections:
            plan = [(10, 0.0, 3), (100, 0.0, 2)]
            if not args.quick:
                plan += [(1000, 0.0, 1), (10, 1.0, 1), (100, 1.0, 1), (1000, 1.0, 1)]
            for concurrency, latency, rounds in plan:
                figures += await scenarios.throughput(
                    bench, ours, naive, concurrency, latency, rounds
                )
        if "long" in args.sections:
            long_runs[1000] = await scenarios.long_conversation(bench, ours, 1000)
            if can_run:
                long_runs[10_000] = await scenarios.long_conversation(
                    bench, ours, scenarios.CONTINUE_AS_NEW_STEPS
                )
            figures += long_runs.values()
        emit(
            json.dumps(
                {"kind": "transcript_cache", "hits": bench.cache.hits, "misses": bench.cache.misses}
            )
        )


async def _tuning_run() -> int:
    async with Bench.start() as bench:
        ours, _, template = await bench.shipped_designs()
        await scenarios.warm_up(bench, ours)
        figures = await tuning.run_all(bench, ours, template)
        emit(
            json.dumps(
                {"kind": "transcript_cache", "hits": bench.cache.hits, "misses": bench.cache.misses}
            )
        )
    print()
    print(table(figures))
    return 0


class _Tee(io.TextIOBase):
    """Keeps every line printed in a file as well, for docs and for comparing runs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8")
        self._stdout = sys.stdout

    def write(self, text: str) -> int:
        self._file.write(text)
        return self._stdout.write(text)

    def flush(self) -> None:
        self._file.flush()
        self._stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    tee = _Tee(args.results)
    sys.stdout = tee
    emit(json.dumps({**machine(), "command": " ".join(sys.argv), "quick": args.quick}))
    code = asyncio.run(_tuning_run() if args.tune else _targets_run(args))
    emit(json.dumps({"kind": "end", "load_average": os.getloadavg()}))
    return code


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Without the interpreter's finalization, as the console script does (agentic_loop.cli's
    # entrypoint): the SDK's threads can abort a finalizing interpreter (sdk-python#300), and
    # the --tune run did, after printing every figure.
    os._exit(exit_code)
