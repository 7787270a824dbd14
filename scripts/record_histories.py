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
from pathlib import Path
from typing import Any

from provenance import matches_commit, package_sources, provenance, run_quietly
from scenarios import (
    HISTORIES,
    INDEX_ABOUT,
    PACKAGE_PATH,
    ROOT,
    SCENARIOS,
    SCRIPTS,
    SOURCE_COMMIT_ENV,
    Scenario,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

import agentic_loop
from agentic_loop.config import Settings
from agentic_loop.llm.base import LLMProvider
from agentic_loop.llm.failover import ProviderChain
from agentic_loop.llm.scripted import ScriptedLLM, ScriptedModels
from agentic_loop.outcome import agent_result
from agentic_loop.temporal.dev_server import start_dev_server
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.testing.record import (
    INDEX_NAME,
    RUN_FAILURES,
    RUN_TIMEOUT_SECONDS,
    RecordedRun,
    history_file,
    load_index,
    recorded_runs,
    run_to_end,
    write_run,
)
from agentic_loop.tools import default_registry
from agentic_loop.tools.mcp.config import parse_mcp_config
from agentic_loop.tools.mcp.servers import McpServers
from agentic_loop.types import AgentInput, AgentResult


def first_history_file(scenario: Scenario, suffix: str | None) -> str:
    """<name>.json, or <name>_run1.json for the first run of a multi-run scenario."""
    return history_file(scenario.name, suffix, 1 if scenario.min_runs > 1 else None)


def _provider(scenario: Scenario) -> LLMProvider:
    primary = ScriptedLLM.from_file(scenario.script_path)
    if scenario.agent_scripts:
        children = {m: ScriptedLLM.from_file(SCRIPTS / f) for m, f in scenario.agent_scripts}
        return ScriptedModels(primary, children)
    if scenario.fallback_script is None:
        return primary
    fallback = ScriptedLLM.from_file(SCRIPTS / scenario.fallback_script)
    return ProviderChain([("primary", primary), ("fallback", fallback)])


def _mcp_servers(scenario: Scenario) -> McpServers | None:
    if scenario.mcp_servers is None:
        return None
    text = json.dumps({"mcpServers": scenario.mcp_servers})
    return McpServers(parse_mcp_config(text, f"scenario {scenario.name}"))


async def record(
    scenario: Scenario, client: Client, workflow_id: str, suffix: str | None
) -> list[RecordedRun]:
    """Run (and drive) one scenario to its end; the history of each of its runs."""
    tools = scenario.tools() if scenario.tools is not None else None
    mcp = _mcp_servers(scenario)
    try:
        if mcp is not None:
            tools = tools if tools is not None else default_registry()
            for listed in await mcp.start():
                tools.register(listed)
        result, runs = await run_to_end(
            client,
            scenario.input,
            workflow_id=workflow_id,
            provider=_provider(scenario),
            tools=tools,
            drive=scenario.drive,
            run_timeout_seconds=RUN_TIMEOUT_SECONDS,
        )
    finally:
        if mcp is not None:
            await mcp.aclose()
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
    recorded = recorded_runs(
        scenario.name, workflow_id, result, runs, suffix=suffix, numbered=scenario.min_runs > 1
    )
    for number, child_id in enumerate(children_of(runs), 1):
        recorded += await record_child(scenario, client, child_id, number, suffix)
    return recorded


def children_of(runs: list[tuple[str, WorkflowHistory]]) -> list[str]:
    """The workflow ids of the children (sub-agents) the runs started, in order."""
    return [
        event.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for _, history in runs
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]


async def record_child(
    scenario: Scenario, client: Client, child_id: str, number: int, suffix: str | None
) -> list[RecordedRun]:
    """A sub-agent's own history, <scenario>_child<n>.json, with the script of its model."""
    handle = client.get_workflow_handle(child_id, result_type=AgentResult)
    result = await agent_result(handle)
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [child_input] = await client.data_converter.decode(list(started.input.payloads), [AgentInput])
    script = dict(scenario.agent_scripts).get(child_input.model or "")
    if script is None:
        raise RuntimeError(f"child {child_id} asked for model {child_input.model!r}, no script")
    runs = [(started.original_execution_run_id, history)]
    [run] = recorded_runs(f"{scenario.name}_child{number}", child_id, result, runs, suffix=suffix)
    parent = started.parent_workflow_execution.workflow_id
    # The entry's script is the child's own; the parent names the run it belongs to.
    run.facts = {"script": _display(SCRIPTS / script), "parent_workflow_id": parent, **run.facts}
    return [run]


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
    index = load_index(out / INDEX_NAME, INDEX_ABOUT)
    index["about"] = INDEX_ABOUT
    made = dataclasses.asdict(provenance())
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
            except (RuntimeError, *RUN_FAILURES) as e:
                where = _display(out / first_history_file(scenario, suffix))
                print(f"failed  {where}: {type(e).__name__}: {e}", file=sys.stderr)
                failed += 1
                continue
            for run in runs:
                entry: dict[str, Any] = {
                    "file": run.file,
                    "scenario": scenario.name,
                    "script": _display(scenario.script_path),
                    "notes": scenario.notes,
                    **run.facts,
                    "recorded_with": made,
                }
                target = write_run(out, index, run, entry)
                print(
                    f"wrote   {_display(target)} ({run.facts['events']} events, {run.status})",
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
    machinery = f"{PACKAGE_PATH}/testing/record.py"
    if run_quietly("git", "cat-file", "-e", f"{commit}:{machinery}") is None:
        # This recorder runs that commit's package, and records with its machinery.
        print(
            f"error: {commit[:12]} has no {machinery}, which this recorder uses; record with "
            "a later commit (commit the current code and use --from-commit HEAD)",
            file=sys.stderr,
        )
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
