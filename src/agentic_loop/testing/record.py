"""Recording the event histories of scripted runs, to replay against every later change.

A recording runs AgentWorkflow on a real Temporal server (the embedded dev server, for
`agentic-loop record`) with a ScriptedLLM and the given tools, on a worker from
`build_worker` as a user's worker would be, and keeps the history of each of its runs as
`temporal workflow show --output json` writes it. Beside the histories, `index.json` says for
each file what the run was (scenario, script, input), how it ended, and what code recorded
it. `agentic-loop record` and scripts/record_histories.py (`nox -s record`) both record with
this module; `agentic-loop replay DIR` replays what they wrote.

A script is the scripted fake LLM's JSON (see agentic_loop.llm.scripted) with two optional
keys of its own: `description`, and `input`, the AgentInput fields of the run (the goal is
the description unless given).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

from agentic_loop.llm.base import LLMProvider
from agentic_loop.outcome import agent_result
from agentic_loop.temporal.dev_server import temporal_cli
from agentic_loop.temporal.start_options import agent_start_options
from agentic_loop.tools import ToolRegistry
from agentic_loop.tools.loading import BUILTIN_SOURCE
from agentic_loop.types import AgentInput, AgentResult
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow

INDEX_NAME = "index.json"
# What the index expects of a run that ended by continuing as new (it has no result).
CONTINUED_AS_NEW = "continued_as_new"
# A scripted run that takes longer than this on the dev server is stuck, not slow.
RUN_TIMEOUT_SECONDS = 60.0
INDEX_ABOUT = (
    "Event histories recorded by `agentic-loop record` from scripted runs on the embedded dev "
    "server. Replay them against new code before a deploy with `agentic-loop replay DIR` (this "
    "index is skipped). A history is never re-recorded to make a failing replay pass: the "
    "failure means a worker with that code would get stuck on such runs."
)

Handle = WorkflowHandle[Any, AgentResult]
# Drives a started run from outside, as a person or program would: updates, signals, cancel.
Driver = Callable[[Handle], Awaitable[None]]

# What a run can fail with while it is recorded; anything else is a bug of the recorder.
RUN_FAILURES: tuple[type[BaseException], ...] = (
    TimeoutError,
    RPCError,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)


class RecordError(RuntimeError):
    """A recording that cannot be made or kept; the message says why, for a person."""


# ---- one run ----------------------------------------------------------------------------------


def history_file(name: str, suffix: str | None = None, run: int | None = None) -> str:
    """<name>.json, <name>-<suffix>.json, or <name>_run<run>... for one run of several."""
    stem = name if run is None else f"{name}_run{run}"
    return f"{stem}-{suffix}.json" if suffix else f"{stem}.json"


def continued_to(history: WorkflowHistory) -> str | None:
    """The run this one continued as, or None if it ended otherwise."""
    last = history.events[-1]
    if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        return None
    return last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


async def fetch_runs(
    client: Client, workflow_id: str, run_id: str
) -> list[tuple[str, WorkflowHistory]]:
    """Each run's history by its run id, following continue-as-new from `run_id` to the end."""
    runs: list[tuple[str, WorkflowHistory]] = []
    next_run: str | None = run_id
    while next_run is not None:
        history = await client.get_workflow_handle(workflow_id, run_id=next_run).fetch_history()
        runs.append((next_run, history))
        next_run = continued_to(history)
    return runs


def expectation(result: AgentResult) -> dict[str, Any]:
    """What the index promises of a run that ended: tests/replay checks the history still
    ends so."""
    return {
        "status": result.status.value,
        "turns": result.turns,
        "tool_calls": result.tool_calls,
        "answer": result.answer,
        "error": result.error,
    }


@dataclass
class RecordedRun:
    """One run's history as JSON, and its index entry's facts."""

    file: str
    text: str
    facts: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.facts["expect"]["status"])


async def run_to_end(
    client: Client,
    agent_input: AgentInput,
    *,
    workflow_id: str,
    provider: LLMProvider,
    tools: ToolRegistry | None = None,
    drive: Driver | None = None,
    run_timeout_seconds: float = RUN_TIMEOUT_SECONDS,
) -> tuple[AgentResult, list[tuple[str, WorkflowHistory]]]:
    """Run (and `drive`) one agent to its end on a worker of its own, with `provider` and
    `tools` (the client's plugin's unless given); its result and the history of each of its
    runs. A run still going after `run_timeout_seconds` is terminated and TimeoutError raised."""
    task_queue = f"record-{uuid.uuid4().hex[:12]}"
    async with build_worker(client, task_queue=task_queue, provider=provider, tools=tools):
        # Started as the command line starts agents (summary, AgentStatus where the server
        # has it), so the history holds what production histories hold.
        options = await agent_start_options(client, client.namespace, agent_input.goal)
        handle = await client.start_workflow(
            AgentWorkflow.run, agent_input, id=workflow_id, task_queue=task_queue, **options
        )
        try:
            async with asyncio.timeout(run_timeout_seconds):
                if drive is not None:
                    await drive(handle)
                result: AgentResult = await agent_result(handle)
        except BaseException:
            # Leave nothing running on the server that the next run could trip over.
            with contextlib.suppress(RPCError):
                await handle.terminate("the recorder gave up on this run")
            raise
        # The run it was started as: result() followed the chain from there.
        assert handle.result_run_id is not None
        runs = await fetch_runs(client, workflow_id, handle.result_run_id)
    return result, runs


def recorded_runs(
    name: str,
    workflow_id: str,
    result: AgentResult,
    runs: Sequence[tuple[str, WorkflowHistory]],
    *,
    suffix: str | None = None,
    numbered: bool | None = None,
) -> list[RecordedRun]:
    """The files of a recorded agent: one per run, named <name>_run<n> when `numbered`
    (by default: when it continued as new); all but the last expect continue-as-new."""
    numbered = len(runs) > 1 if numbered is None else numbered
    recorded = []
    for number, (run_id, history) in enumerate(runs, 1):
        started = history.events[0].workflow_execution_started_event_attributes
        next_run = continued_to(history)
        facts: dict[str, Any] = {
            # As recorded, not as the caller wrote it: a later run's input carries state.
            "input": json.loads(started.input.payloads[0].data),
            "workflow_id": workflow_id,
            "run_id": run_id,
        }
        if numbered:
            facts["run"] = number
            facts["runs"] = len(runs)
        facts["events"] = len(history.events)
        facts["expect"] = (
            expectation(result)
            if next_run is None
            else {"status": CONTINUED_AS_NEW, "new_run_id": next_run}
        )
        file = history_file(name, suffix, number if numbered else None)
        recorded.append(RecordedRun(file, history.to_json() + "\n", facts))
    return recorded


# ---- the index --------------------------------------------------------------------------------


def load_index(path: Path, about: str = INDEX_ABOUT) -> dict[str, Any]:
    if not path.exists():
        return {"about": about, "histories": []}
    index: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    index.setdefault("about", about)
    index.setdefault("histories", [])
    return index


def save_index(path: Path, index: dict[str, Any]) -> None:
    index["histories"] = sorted(index["histories"], key=lambda e: e["file"])
    path.write_text(json.dumps(index, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_run(out: Path, index: dict[str, Any], run: RecordedRun, entry: dict[str, Any]) -> Path:
    """Write one history and its index entry (replacing the file's old entry). The index is
    saved after each file, so an interrupted recording leaves an index that matches the disk."""
    target = out / run.file
    target.write_text(run.text, encoding="utf-8")
    index["histories"] = [e for e in index["histories"] if e["file"] != run.file]
    index["histories"].append(entry)
    save_index(out / INDEX_NAME, index)
    return target


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def temporal_cli_version() -> str:
    try:
        done = subprocess.run(
            [temporal_cli(), "--version"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def _tool_distributions(tools: Iterable[Any]) -> dict[str, str]:
    """The installed distributions the tools' modules belong to, with their versions
    (agentic-loop's own tools aside: its version is recorded anyway)."""
    owners = metadata.packages_distributions()
    found: dict[str, str] = {}
    for tool in tools:
        if tool.source == BUILTIN_SOURCE:
            continue
        module = getattr(tool.function or tool.run, "__module__", None) or ""
        for distribution in owners.get(module.partition(".")[0], []):
            if distribution != "agentic-loop":
                found[distribution] = metadata.version(distribution)
    return dict(sorted(found.items()))


def code_version(
    tools: ToolRegistry | None = None, directory: Path | None = None
) -> dict[str, Any]:
    """What recorded a history: agentic-loop's, the SDK's and the Temporal CLI's versions;
    the installed packages the tools come from; and the git commit of `directory` (the
    current one unless given; None outside a repository), with whether its tracked files
    had uncommitted changes, which the commit alone would then not rebuild."""
    directory = directory if directory is not None else Path.cwd()
    commit = _git(directory, "rev-parse", "HEAD")
    changes = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return {
        "agentic_loop": metadata.version("agentic-loop"),
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": temporal_cli_version(),
        "git_commit": commit,
        "git_dirty": None if commit is None or changes is None else bool(changes),
        "packages": _tool_distributions(tools or ()),
        "recorded_at": datetime.now(UTC).isoformat("T", "seconds"),
    }
