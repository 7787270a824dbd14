"""How long the command takes as a person runs it: `agentic-loop --help`, and the README's
quick start (`agentic-loop run` with the seed's goal: an embedded server, an in-process
worker, the fake LLM). Whole processes, from start to exit, measured on their own before the
other sections start their servers."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from agentic_loop.config import DEFAULT_GOAL
from benchmarks.report import Figure, emit

RUNS = 7


def command() -> list[str]:
    """The console script a user runs (its `python -m` twin if it is not installed)."""
    script = Path(sysconfig.get_path("scripts")) / "agentic-loop"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "agentic_loop.cli"]


def _environment() -> dict[str, str]:
    """This environment without a Temporal server or a provider's key: the quick start."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "OPENAI_", "ANTHROPIC_"))
    }
    env.pop("AGENTIC_LOOP_LLM", None)
    return env


def _median_wall(args: list[str], runs: int) -> tuple[float, list[float]]:
    env = _environment()
    subprocess.run(args, env=env, capture_output=True, check=True, timeout=120)  # warm-up
    walls = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(args, env=env, capture_output=True, check=True, timeout=120)
        walls.append(time.monotonic() - started)
    return statistics.median(walls), walls


def measure(runs: int = RUNS) -> list[Figure]:
    figures = []
    for name, args in (
        ("agentic-loop --help (median wall)", [*command(), "--help"]),
        ("quick start: agentic-loop run (median wall)", [*command(), "run", DEFAULT_GOAL]),
    ):
        median, walls = _median_wall(args, runs)
        figure = Figure("startup", name, "s", median, extra={"runs": [round(w, 3) for w in walls]})
        emit(json.dumps({"kind": "figure", "section": "startup", "name": name, "wall_s": walls}))
        figures.append(figure)
    return figures
