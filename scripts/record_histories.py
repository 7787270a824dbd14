"""Record the event histories in fixtures/histories from real runs on the embedded dev server.

Each scenario runs AgentWorkflow with a ScriptedLLM on a worker from `build_worker`, exactly as
a user's worker would, and saves the history as `temporal workflow show --output json` does.
tests/replay then replays every saved history against the current code.

    nox -s record                    # record the scenarios that have no history yet
    nox -s record -- --suffix v2     # record seed-v2.json etc. beside the old ones
    nox -s record -- --only seed     # just one scenario (repeatable)
    nox -s record -- --from-commit HEAD   # with HEAD's code, whatever the tree holds

A scenario may have a driver: a coroutine that acts on the run while it goes (updates,
signals, cancel), waiting for each state through the `status` query with a deadline. A run
that continues as new is saved one file per run, <scenario>_run1.json, _run2.json, ...; all
but the last end in continue-as-new, which their index entries expect.

An existing history is never replaced unless `--overwrite` is given, and that is not the way
to make a failing replay pass: see docs/versioning.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance import matches_commit, package_sources, provenance, run_quietly
from scenarios import (
    CONTINUED_AS_NEW,
    HISTORIES,
    INDEX_ABOUT,
    INDEX_NAME,
    PACKAGE_PATH,
    ROOT,
    RUN_TIMEOUT_SECONDS,
    SCENARIOS,
    SOURCE_COMMIT_ENV,
    Scenario,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

import agentic_loop
from agentic_loop.config import Settings
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.temporal.dev_server import start_dev_server
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.types import (
    AgentResult,
)
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow


def history_file(scenario: Scenario, suffix: str | None, run: int | None = None) -> str:
    """<name>.json, or <name>_run<run>.json for one run of a multi-run scenario."""
    stem = scenario.name if run is None else f"{scenario.name}_run{run}"
    return f"{stem}-{suffix}.json" if suffix else f"{stem}.json"


def first_history_file(scenario: Scenario, suffix: str | None) -> str:
    return history_file(scenario, suffix, 1 if scenario.min_runs > 1 else None)


def _expectation(result: AgentResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "turns": result.turns,
        "tool_calls": result.tool_calls,
        "answer": result.answer,
        "error": result.error,
    }


def _continued_to(history: WorkflowHistory) -> str | None:
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
        next_run = _continued_to(history)
    return runs


@dataclass
class Recorded:
    """One run's history as JSON, and its index entry's facts."""

    file: str
    text: str
    facts: dict[str, Any]


async def record(
    scenario: Scenario, client: Client, workflow_id: str, suffix: str | None
) -> list[Recorded]:
    """Run (and drive) one scenario to its end; the history of each of its runs."""
    task_queue = f"record-{scenario.name}-{uuid.uuid4().hex[:8]}"
    llm = ScriptedLLM.from_file(scenario.script_path)
    tools = scenario.tools() if scenario.tools is not None else None
    async with build_worker(client, task_queue=task_queue, provider=llm, tools=tools):
        handle = await client.start_workflow(
            AgentWorkflow.run, scenario.input, id=workflow_id, task_queue=task_queue
        )
        try:
            async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
                if scenario.drive is not None:
                    await scenario.drive(handle)
                result: AgentResult = await handle.result()
        except BaseException:
            # Leave nothing running on the server that the next scenario could trip over.
            with contextlib.suppress(RPCError):
                await handle.terminate("the recorder gave up on this scenario")
            raise
        assert handle.result_run_id is not None
        runs = await fetch_runs(client, workflow_id, handle.result_run_id)
    if result.status != scenario.expect_status:
        raise RuntimeError(
            f"scenario {scenario.name!r} ended {result.status.value}, not "
            f"{scenario.expect_status.value} (error: {result.error}); nothing was written"
        )
    if scenario.min_runs == 1 and len(runs) > 1:
        raise RuntimeError(
            f"scenario {scenario.name!r} continued as new ({len(runs)} runs) but records one "
            "file; give it min_runs; nothing was written"
        )
    if len(runs) < scenario.min_runs:
        raise RuntimeError(
            f"scenario {scenario.name!r} took {len(runs)} run(s), not at least "
            f"{scenario.min_runs}; nothing was written"
        )
    recorded = []
    for number, (run_id, history) in enumerate(runs, 1):
        started = history.events[0].workflow_execution_started_event_attributes
        continued_to = _continued_to(history)
        facts: dict[str, Any] = {
            # As recorded, not as the scenario wrote it: a later run's input carries state.
            "input": json.loads(started.input.payloads[0].data),
            "workflow_id": workflow_id,
            "run_id": run_id,
        }
        if scenario.min_runs > 1:
            facts["run"] = number
            facts["runs"] = len(runs)
        facts["events"] = len(history.events)
        facts["expect"] = (
            _expectation(result)
            if continued_to is None
            else {"status": CONTINUED_AS_NEW, "new_run_id": continued_to}
        )
        run = number if scenario.min_runs > 1 else None
        text = history.to_json() + "\n"
        recorded.append(Recorded(history_file(scenario, suffix, run), text, facts))
    return recorded


def load_index(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"about": INDEX_ABOUT, "histories": []}
    index: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return index


def save_index(path: Path, index: dict[str, Any]) -> None:
    index["about"] = INDEX_ABOUT
    index["histories"] = sorted(index["histories"], key=lambda e: e["file"])
    path.write_text(json.dumps(index, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _display(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def plan(args: argparse.Namespace) -> list[Scenario]:
    """The scenarios to record; those whose history exists are reported as skipped."""
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    todo = []
    for scenario in chosen:
        target = args.out / first_history_file(scenario, args.suffix)
        if target.exists() and not args.overwrite:
            print(f"skipped {_display(target)}: it exists (--overwrite replaces it)", flush=True)
        else:
            todo.append(scenario)
    return todo


async def record_all(
    todo: list[Scenario], out: Path, suffix: str | None, *, overwrite: bool
) -> int:
    index_path = out / INDEX_NAME
    index = load_index(index_path)
    made = provenance()
    failed = 0
    # No settings from the environment: a recording must not depend on who runs it.
    env = await start_dev_server(plugin=AgentLoopPlugin(Settings()))
    try:
        for scenario in todo:
            # One id for all the runs of a scenario, as a conversation keeps it across runs.
            workflow_id = f"history-{scenario.name}" + (f"-{suffix}" if suffix else "")
            try:
                runs = await record(scenario, env.client, workflow_id, suffix)
                clashes = [r.file for r in runs if (out / r.file).exists()]
                if clashes and not overwrite:
                    raise RuntimeError(f"{', '.join(clashes)} exist(s); nothing was written")
            except (
                RuntimeError,
                TimeoutError,
                RPCError,
                WorkflowFailureError,
                WorkflowUpdateFailedError,
            ) as e:
                where = _display(out / first_history_file(scenario, suffix))
                print(f"failed  {where}: {type(e).__name__}: {e}", file=sys.stderr)
                failed += 1
                continue
            for run in runs:
                target = out / run.file
                target.write_text(run.text, encoding="utf-8")
                entry = {
                    "file": run.file,
                    "scenario": scenario.name,
                    "script": _display(scenario.script_path),
                    "notes": scenario.notes,
                    **run.facts,
                    "recorded_with": dataclasses.asdict(made),
                }
                index["histories"] = [e for e in index["histories"] if e["file"] != run.file]
                index["histories"].append(entry)
                # Saved after each file, so an interrupted run leaves an index that matches
                # the disk.
                save_index(index_path, index)
                status = run.facts["expect"]["status"]
                print(
                    f"wrote   {_display(target)} ({run.facts['events']} events, {status})",
                    flush=True,
                )
    finally:
        await env.shutdown()
    return 1 if failed else 0


def record_from_commit(revision: str, argv: list[str]) -> int:
    """Record with the package as `revision` has it: extract it with `git archive` and run
    this recorder again on it, so uncommitted changes in the tree never reach a history."""
    commit = run_quietly("git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if commit is None:
        print(f"error: {revision!r} is not a commit of {ROOT}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="record-histories-") as tmp:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit, PACKAGE_PATH],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        path = [str(Path(tmp) / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, SOURCE_COMMIT_ENV: commit, "PYTHONPATH": os.pathsep.join(path)}
        print(f"recording with the code of {commit[:12]} (git archive)", flush=True)
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], env=env)
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # Fixtures must replay on any machine, so they are never sealed with a local codec key.
    os.environ.pop("AGENTIC_LOOP_CODEC_KEYS", None)
    commit = os.environ.get(SOURCE_COMMIT_ENV)
    if args.from_commit is not None and commit is None:
        return record_from_commit(args.from_commit, argv)
    if commit is not None and not matches_commit(package_sources(), commit):
        print(
            f"error: the agentic_loop imported from {Path(agentic_loop.__file__).parent} is not "
            f"the code of {commit[:12]}",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    todo = plan(args)
    if not todo:
        return 0
    return asyncio.run(record_all(todo, args.out, args.suffix, overwrite=args.overwrite))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [s.name for s in SCENARIOS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing histories (never to make a failing replay pass)",
    )
    parser.add_argument(
        "--suffix",
        default=None,
        help="name files <scenario>-<suffix>.json, keeping the old histories beside them",
    )
    parser.add_argument(
        "--only", action="append", choices=names, metavar="SCENARIO", help=", ".join(names)
    )
    parser.add_argument("--out", type=Path, default=HISTORIES, help="default: %(default)s")
    parser.add_argument(
        "--from-commit",
        metavar="REV",
        default=None,
        help="record with the package as commit REV has it (git archive), e.g. HEAD, "
        "rather than as imported from this tree",
    )
    args = parser.parse_args(argv)
    if args.suffix is not None and not re.fullmatch(r"[A-Za-z0-9_.]+", args.suffix):
        parser.error("--suffix takes letters, digits, '_' and '.', e.g. v2")
    return args


if __name__ == "__main__":
    # The scripted faults are meant to fail; their tracebacks would bury the list of files.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's Rust threads can outlive interpreter teardown and abort the process after the
    # work is done (temporalio/sdk-python#300); nothing is left to clean up, so skip teardown.
    os._exit(code)
