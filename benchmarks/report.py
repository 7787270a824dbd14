"""Figures, their ratios to the naive design, the targets, and how they are printed."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolated; NaN when there are no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def growth_exponent(points: Sequence[tuple[float, float]]) -> float:
    """The slope of a least-squares line through (log x, log y): y grows as x to this power."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def power_law(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(a, b) of y = a * x**b fitted in log-log space."""
    b = growth_exponent(points)
    log_a = statistics.fmean(math.log(y) - b * math.log(x) for x, y in points)
    return math.exp(log_a), b


@dataclass
class Figure:
    """One measured quantity for agentic-loop and, where it was measured, the naive design
    (or, in the tuning section, for a worker setting and the shipped one)."""

    section: str
    name: str
    unit: str
    ours: float
    naive: float | None = None
    # How the naive figure was obtained when it was not measured ("extrapolated", ...).
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # What `naive` is: the naive design, or the shipped setting a tuning variant is held to.
    against: str = "naive"

    @property
    def ratio(self) -> float | None:
        if self.naive is None or self.naive == 0 or math.isnan(self.naive):
            return None
        return self.ours / self.naive

    def json_line(self) -> str:
        data = asdict(self)
        data["ratio"] = self.ratio
        return json.dumps({"kind": "figure", **data})


@dataclass
class Target:
    name: str
    # "PASS", "FAIL", or "SKIP" for a target not measured in this run.
    verdict: str
    measured: str
    wanted: str

    def json_line(self) -> str:
        return json.dumps({"kind": "target", **asdict(self)})


def check(
    name: str,
    value: float | None,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    shown: str = "{:.3g}",
) -> Target:
    if at_most is not None:
        wanted = f"<= {shown.format(at_most)}"
        ok = value is not None and value <= at_most
    elif at_least is not None:
        wanted = f">= {shown.format(at_least)}"
        ok = value is not None and value >= at_least
    else:
        raise ValueError("a target needs at_most or at_least")
    if value is None:
        return Target(name, "SKIP", "not measured in this run", wanted)
    return Target(name, "PASS" if ok else "FAIL", shown.format(value), wanted)


def emit(line: str) -> None:
    print(line, flush=True)


def _format(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "bytes":
        return f"{value / 1e6:.3f} MB" if value >= 1e5 else f"{value / 1e3:.1f} KB"
    if unit == "events":
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "steps/s":
        return f"{value:.0f} steps/s"
    return f"{value:.3g} {unit}".strip()


def table(figures: Sequence[Figure], targets: Sequence[Target] = ()) -> str:
    against = figures[0].against if figures else "naive"
    first = "agentic-loop" if against == "naive" else "variant"
    rows = [("section", "figure", first, against, "ratio")]
    for f in figures:
        ratio = f.ratio
        shown_ratio = "-" if ratio is None else f"{ratio:.3f}x"
        naive = _format(f.naive, f.unit) + (f" ({f.note})" if f.note else "")
        rows.append((f.section, f.name, _format(f.ours, f.unit), naive, shown_ratio))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if targets:
        lines.append("")
        lines.append("targets (ratios are agentic-loop / naive, measured in this run):")
    for t in targets:
        lines.append(f"  {t.verdict:4}  {t.name}: {t.measured} (wanted {t.wanted})")
    return "\n".join(lines)


def _cli_version() -> str:
    from agentic_loop.temporal.dev_server import temporal_cli

    try:
        out = subprocess.run(
            [temporal_cli(), "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"unknown ({e})"
    return out.stdout.strip()


def machine() -> dict[str, Any]:
    """What the figures were measured on: they mean little without it."""
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "kind": "machine",
        "nproc": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": _cli_version(),
        "load_average": os.getloadavg(),
    }


def plot_history(
    ours: Sequence[tuple[int, float]],
    naive: Sequence[tuple[int, float]],
    path: Path,
    naive_extrapolated: Sequence[tuple[int, float]] = (),
) -> bool:
    """History bytes against steps for both designs, log-log; False when matplotlib (installed
    by the bench session only) is missing."""
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.loglog(
        *zip(*ours, strict=True), "o-", label="agentic-loop (transcript delta)", color="tab:blue"
    )
    ax.loglog(
        *zip(*naive, strict=True),
        "s-",
        label="naive (whole transcript per LLM call)",
        color="tab:red",
    )
    if naive_extrapolated:
        last = naive[-1]
        xs, ys = zip(last, *naive_extrapolated, strict=True)
        ax.loglog(xs, ys, "s--", color="tab:red", alpha=0.4, label="naive, extrapolated")
    ax.axhline(50e6, color="grey", linestyle=":", label="Temporal's 50 MB history limit")
    ax.set_xlabel("steps in the conversation (one ~1 KB calculator result each)")
    ax.set_ylabel("history size, bytes of fetch_history().to_json()")
    ax.set_title("Workflow history growth")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
