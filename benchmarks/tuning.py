"""`--tune`: each worker setting against the shipped one, on the same server, alternating.

The figures behind the defaults recommended in docs/performance.md. Each experiment changes one
setting of the worker `build_worker` returns (or one field of the input) and nothing else.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from temporalio.worker import (
    PollerBehaviorAutoscaling,
    PollerBehaviorSimpleMaximum,
    UnsandboxedWorkflowRunner,
    Worker,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from benchmarks.harness import Bench, Design
from benchmarks.report import Figure, emit, median
from benchmarks.scenarios import alternate, alternate_batches, batch_figures, history_size


async def compare_batches(
    bench: Bench,
    experiment: str,
    shipped: Design,
    variant: Design,
    *,
    concurrency: int,
    steps: int,
    latency: float,
    rounds: int = 2,
) -> list[Figure]:
    batches = await alternate_batches(
        bench,
        variant,
        shipped,
        rounds=rounds,
        concurrency=concurrency,
        steps=steps,
        latency=latency,
    )
    where = f"{experiment} [C={concurrency}, S={steps}, latency {latency:g} s]"
    names = (
        f"{where} steps/s",
        f"{where} p50 step",
        f"{where} p99 step",
        f"{where} worker CPU/step",
    )
    extra: dict[str, Any] = {"variant": variant.label, **batches.cache_note}
    return batch_figures(
        batches, "tuning", variant, shipped, names, extra=extra, against_name="shipped"
    )


# Where the calculator's calls run, against the shipped inline tools (in the LLM activity).
TOOL_PLACEMENTS: list[tuple[str, dict[str, Any]]] = [
    ("calculator as a local activity (inline_tools=[])", {"inline_tools": []}),
    (
        "calculator as a regular activity (inline_tools=[], local_tools=[])",
        {"inline_tools": [], "local_tools": []},
    ),
]


async def tool_placement(
    bench: Bench, shipped: Design, label: str, fields: dict[str, Any]
) -> list[Figure]:
    """The calculator placed as `fields` say, against the shipped input: serial step time,
    events and bytes at S=100, and a throughput batch."""
    other = replace(shipped, label=label, input_fields=fields)
    per_step: dict[str, list[float]] = {shipped.label: [], other.label: []}
    for design in alternate(other, shipped, 10):
        seconds, _ = await bench.conversation(design, 10)
        per_step[design.label].append(seconds / 10 * 1000)
    sizes = {}
    for design in (other, shipped):
        _, handle = await bench.conversation(design, 100)
        sizes[design.label] = await history_size(bench.client, handle)
    o, s = sizes[other.label], sizes[shipped.label]
    figures = [
        Figure(
            "tuning",
            f"{label} serial S=10 per step",
            "ms",
            median(per_step[other.label]),
            median(per_step[shipped.label]),
            against="shipped",
        ),
        Figure("tuning", f"{label} S=100 events", "events", o.events, s.events, against="shipped"),
        Figure(
            "tuning", f"{label} S=100 bytes", "bytes", o.json_bytes, s.json_bytes, against="shipped"
        ),
    ]
    for figure in figures:
        emit(figure.json_line())
    figures += await compare_batches(
        bench, label, shipped, other, concurrency=100, steps=10, latency=0.0
    )
    return figures


class _PlainSandbox(SandboxedWorkflowRunner):
    """The sandbox as build_worker shipped it before the passthrough list: every new workflow
    run executes our modules again. A subclass, so AgentLoopPlugin leaves it as it is rather
    than adding the passthrough back."""


def _plain_sandbox() -> SandboxedWorkflowRunner:
    return _PlainSandbox(restrictions=SandboxRestrictions.default)


# (experiment, worker overrides, concurrency, steps, latency): one setting each.
WORKER_EXPERIMENTS: list[tuple[str, dict[str, Any], int, int, float]] = [
    ("max_concurrent_workflow_tasks=20", {"max_concurrent_workflow_tasks": 20}, 100, 10, 0.0),
    ("max_concurrent_workflow_tasks=500", {"max_concurrent_workflow_tasks": 500}, 100, 10, 0.0),
    (
        "workflow pollers: simple maximum 2",
        {"workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(2)},
        100,
        10,
        0.0,
    ),
    (
        "workflow pollers: autoscaling",
        {"workflow_task_poller_behavior": PollerBehaviorAutoscaling()},
        100,
        10,
        0.0,
    ),
    (
        "activity pollers: autoscaling",
        {"activity_task_poller_behavior": PollerBehaviorAutoscaling()},
        100,
        10,
        0.0,
    ),
    ("no eager activities", {"disable_eager_activity_execution": True}, 100, 10, 0.0),
    (
        "sandbox without the payload-type passthrough",
        {"workflow_runner": _plain_sandbox()},
        100,
        10,
        0.0,
    ),
    (
        "no sandbox (UnsandboxedWorkflowRunner)",
        {"workflow_runner": UnsandboxedWorkflowRunner()},
        100,
        10,
        0.0,
    ),
    # More conversations than cached workflows: every evicted one is replayed from history.
    ("max_cached_workflows=50", {"max_cached_workflows": 50}, 200, 10, 0.0),
    # Slow model calls hold activity slots: with 200, 1,000 conversations queue for them.
    (
        "max_concurrent_activities=1000",
        {"max_concurrent_activities": 1000, "max_concurrent_local_activities": 1000},
        1000,
        2,
        2.0,
    ),
]


async def run_all(bench: Bench, shipped: Design, template: Worker) -> list[Figure]:
    figures: list[Figure] = []
    for label, fields in TOOL_PLACEMENTS:
        figures += await tool_placement(bench, shipped, label, fields)
    for experiment, overrides, concurrency, steps, latency in WORKER_EXPERIMENTS:
        async with bench.variant(template, experiment, **overrides) as variant:
            await bench.conversation(variant, 2)
            figures += await compare_batches(
                bench,
                experiment,
                shipped,
                variant,
                concurrency=concurrency,
                steps=steps,
                latency=latency,
                rounds=1 if concurrency >= 200 else 2,
            )
    return figures
