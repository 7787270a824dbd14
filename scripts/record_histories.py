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
import hashlib
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

import agentic_loop
from agentic_loop.config import Settings
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.temporal.dev_server import start_dev_server, temporal_cli
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.types import (
    AgentInput,
    AgentProgress,
    AgentResult,
    AgentStatus,
    ApprovalRequest,
    UserMessage,
)
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "fixtures" / "scripts"
HISTORIES = ROOT / "fixtures" / "histories"
INDEX_NAME = "index.json"
PACKAGE_PATH = "src/agentic_loop"
# Set by --from-commit for the recorder it runs on that commit's code: the commit's sha.
SOURCE_COMMIT_ENV = "AGENTIC_LOOP_RECORD_COMMIT"
# What the index expects of a run that ended by continuing as new (it has no result).
CONTINUED_AS_NEW = "continued_as_new"
# A run that takes longer than this on the dev server is stuck, not slow.
RUN_TIMEOUT_SECONDS = 60.0

INDEX_ABOUT = (
    "Event histories recorded by scripts/record_histories.py (`nox -s record`) on the embedded "
    "dev server. tests/replay replays each against the current code and checks that its "
    "recorded result still matches `expect`. A history is never re-recorded to make a failing "
    "replay pass: see docs/versioning.md."
)


Handle = WorkflowHandle[Any, AgentResult]
# Drives a started run from outside, as a person or program would: updates, signals, cancel.
Driver = Callable[[Handle], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    input: AgentInput
    expect_status: AgentStatus
    notes: str = ""
    # None: the run is only started and awaited.
    drive: Driver | None = None
    # More than 1: the run continues as new at least this often, and every run's history is
    # its own file, <name>_run1.json, <name>_run2.json, ...
    min_runs: int = 1

    @property
    def script_path(self) -> Path:
        return SCRIPTS / self.script


# ---- driving a run --------------------------------------------------------------------------

# How long a driver waits for the run to reach a state before it gives up on the scenario.
DRIVE_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.05


class DriveError(RuntimeError):
    """The run did not do what its scenario's driver expected of it."""


async def _status(handle: Handle) -> AgentProgress:
    progress: AgentProgress = await handle.query(AgentWorkflow.status)
    return progress


async def until(handle: Handle, check: Callable[[AgentProgress], bool], what: str) -> AgentProgress:
    """Poll the status query until `check` holds, within a deadline (never a fixed sleep)."""
    last: AgentProgress | None = None
    try:
        async with asyncio.timeout(DRIVE_TIMEOUT_SECONDS):
            while True:
                try:
                    last = await _status(handle)
                except RPCError:
                    # Between two runs of a continue-as-new the newest one may not have run its
                    # first workflow task yet; it answers a moment later.
                    last = None
                if last is not None and check(last):
                    return last
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        raise DriveError(
            f"the run was not {what} within {DRIVE_TIMEOUT_SECONDS:g} s (last status: {last})"
        ) from None


async def until_activity_started(handle: Handle, name: str) -> None:
    """Wait until an activity of this type has been picked up by the worker (not only
    scheduled), so what the driver does next meets it in flight."""
    try:
        async with asyncio.timeout(DRIVE_TIMEOUT_SECONDS):
            while True:
                described = await handle.describe()
                for pending in described.raw_description.pending_activities:
                    started = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                    if pending.activity_type.name == name and started:
                        return
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        raise DriveError(f"no {name} activity started within {DRIVE_TIMEOUT_SECONDS:g} s") from None


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise DriveError(what)


def waiting_for_user(progress: AgentProgress) -> bool:
    return progress.phase == "waiting for the user"


def waiting_for_approval(progress: AgentProgress) -> bool:
    return progress.phase == "waiting for approval"


def answered_after(turns: int) -> Callable[[AgentProgress], bool]:
    """Waiting for the user, with exactly `turns` LLM turns taken in all."""
    return lambda progress: waiting_for_user(progress) and progress.turns == turns


async def chat_wait_then_end(handle: Handle) -> None:
    """Goal answered; one message, its answer awaited through the update; then `end`."""
    await until(handle, waiting_for_user, "waiting for the user after the goal")
    reply = await handle.execute_update(
        AgentWorkflow.send_message, UserMessage("And doubled?", wait_for_answer=True)
    )
    expect(
        (reply.request, reply.status, reply.answer)
        == (2, AgentStatus.COMPLETED, "Doubled, it is 16."),
        f"send_message replied {reply}",
    )
    await handle.signal(AgentWorkflow.end)


async def chat_message_queued(handle: Handle) -> None:
    """A message sent without waiting while the first answer is still being written: accepted
    at once, answered after the goal; then `end`."""
    await until_activity_started(handle, "call_llm")
    reply = await handle.execute_update(AgentWorkflow.send_message, UserMessage("What is 2 + 2?"))
    expect(
        (reply.request, reply.status, reply.answer) == (2, AgentStatus.RUNNING, None),
        f"send_message without waiting replied {reply}",
    )
    await until(handle, answered_after(3), "waiting for the user with the message answered")
    await handle.signal(AgentWorkflow.end)


def decide(approved: bool, reason: str) -> Driver:
    """Wait for the call s1 to ask for approval, then approve or reject it with `reason`."""

    async def drive(handle: Handle) -> None:
        waiting = await until(handle, waiting_for_approval, "waiting for approval")
        asked = [c.id for c in waiting.awaiting_approval]
        expect(asked == ["s1"], f"awaiting approval: {asked}, not ['s1']")
        update = AgentWorkflow.approve if approved else AgentWorkflow.reject
        decided = await handle.execute_update(update, ApprovalRequest("s1", reason))
        expect(decided == ["s1"], f"the decision was taken for {decided}, not ['s1']")

    return drive


async def cancel_during_llm_call(handle: Handle) -> None:
    """Cancel the run while its first LLM call is running on the worker."""
    await until_activity_started(handle, "call_llm")
    await handle.cancel()


CAN_MESSAGES = [
    "q0: what is durable execution?",
    "q1: and why does it matter?",
    "q2: how does Temporal provide it?",
]


async def chat_across_runs(handle: Handle) -> None:
    """Three requests, each with an approved search, over a run that continues as new every
    few events; then `end`."""
    for i in range(len(CAN_MESSAGES)):
        await until(handle, waiting_for_approval, f"waiting for approval of request {i + 1}")
        await handle.execute_update(AgentWorkflow.approve, ApprovalRequest(reason=f"ok {i}"))
        await until(
            handle, answered_after(2 * i + 2), f"waiting for the user after request {i + 1}"
        )
        if i + 1 < len(CAN_MESSAGES):
            await handle.execute_update(
                AgentWorkflow.send_message, UserMessage(CAN_MESSAGES[i + 1])
            )
    await handle.signal(AgentWorkflow.end)


SEED_GOAL = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"

SCENARIOS = [
    Scenario("seed", "seed.json", AgentInput(goal=SEED_GOAL), AgentStatus.COMPLETED),
    Scenario(
        "parallel_tools",
        "parallel_tools.json",
        AgentInput(goal="What is 12 * 7, and what does durable execution mean?"),
        AgentStatus.COMPLETED,
        notes="the calculator runs as the input says (inline in the LLM activity since inline "
        "tools; before, a local activity, a marker), web_search as an activity",
    ),
    Scenario(
        "parallel_tools_as_activities",
        "parallel_tools.json",
        AgentInput(
            goal="What is 12 * 7, and what does durable execution mean?",
            local_tools=[],
            inline_tools=[],
        ),
        AgentStatus.COMPLETED,
        notes="local_tools=[] (and inline_tools=[] since inline tools): both tools are regular "
        "activities, scheduled together",
    ),
    Scenario(
        "seed_local_activity",
        "seed.json",
        AgentInput(goal=SEED_GOAL, inline_tools=[]),
        AgentStatus.COMPLETED,
        notes="inline_tools=[]: the calculator runs as a local activity (a marker)",
    ),
    Scenario(
        "retry_429",
        "retry_429_short.json",
        AgentInput(goal="What is 5 + 3?"),
        AgentStatus.COMPLETED,
        notes="the first LLM call is rate-limited twice (retry-after 0.2 s), then answers",
    ),
    Scenario(
        "tool_error_corrected",
        "tool_error_corrected.json",
        AgentInput(goal="What is 6 * 7?"),
        AgentStatus.COMPLETED,
    ),
    Scenario(
        "max_turns",
        "max_turns.json",
        AgentInput(goal="Keep calculating.", max_turns=3),
        AgentStatus.MAX_TURNS,
    ),
    Scenario(
        "non_retryable_401",
        "non_retryable_401.json",
        AgentInput(goal="What is 2 + 2?"),
        AgentStatus.FAILED,
        notes="call_llm fails once, non-retryable; the workflow completes with status failed",
    ),
    Scenario(
        "unknown_tool",
        "unknown_tool.json",
        AgentInput(goal="What is the weather in Seoul?"),
        AgentStatus.COMPLETED,
    ),
    Scenario(
        "malformed_args",
        "malformed_args.json",
        AgentInput(goal="What is 2 + 2?"),
        AgentStatus.COMPLETED,
    ),
    # ---- conversations, driven from outside while they run ----
    Scenario(
        "chat_wait_then_end",
        "chat_wait_then_end.json",
        AgentInput(goal="What is 5 + 3?", chat=True),
        AgentStatus.ENDED,
        notes="goal answered; send_message(wait_for_answer=True) answered; then the end signal",
        drive=chat_wait_then_end,
    ),
    Scenario(
        "chat_message_queued",
        "chat_message_queued.json",
        AgentInput(goal="Hello!", chat=True),
        AgentStatus.ENDED,
        notes=(
            "send_message without waiting, accepted during the first LLM call (scripted 1 s "
            "delay) and answered after it; then the end signal"
        ),
        drive=chat_message_queued,
    ),
    Scenario(
        "approval_approved",
        "approval_approved.json",
        AgentInput(goal="What is durable execution?", approval_required=["web_search"]),
        AgentStatus.COMPLETED,
        notes="web_search waits for approval; the approve update lets it run",
        drive=decide(True, "looks fine"),
    ),
    Scenario(
        "approval_rejected",
        "approval_rejected.json",
        AgentInput(goal="What is durable execution?", approval_required=["web_search"]),
        AgentStatus.COMPLETED,
        notes="web_search waits for approval; the reject update's reason reaches the LLM",
        drive=decide(False, "no web today"),
    ),
    Scenario(
        "approval_expired",
        "approval_expired.json",
        AgentInput(
            goal="What is durable execution?",
            approval_required=["web_search"],
            approval_timeout_seconds=1.5,
        ),
        AgentStatus.COMPLETED,
        notes="nobody decides: after 1.5 s the call counts as rejected (decided_by timeout)",
    ),
    Scenario(
        "idle_timeout",
        "chat_idle_timeout.json",
        AgentInput(goal="Hello!", chat=True, idle_timeout_seconds=1.5),
        AgentStatus.IDLE_TIMEOUT,
        notes="the goal is answered, then no message within the 1.5 s idle timeout",
    ),
    Scenario(
        "cancelled_during_llm",
        "cancel_during_llm.json",
        AgentInput(goal="Think about this for a long time."),
        AgentStatus.CANCELLED,
        notes="cancelled while the first LLM call (a scripted 600 s delay) runs on the worker",
        drive=cancel_during_llm_call,
    ),
    Scenario(
        "max_tokens",
        "max_tokens.json",
        AgentInput(goal="Count for me.", max_total_tokens=100),
        AgentStatus.MAX_TOKENS,
        notes="70 tokens a turn: the budget of 100 is spent after turn 2, before its tool runs",
    ),
    Scenario(
        "chat_continue_as_new",
        "chat_continue_as_new.json",
        AgentInput(
            goal=CAN_MESSAGES[0],
            chat=True,
            approval_required=["web_search"],
            continue_as_new_after_events=24,
        ),
        AgentStatus.ENDED,
        notes=(
            "three requests, each with an approved web_search; continue-as-new once a run "
            "has 24 events (before an LLM call, or while waiting for the user): one file per "
            "run, all but the last ending in continue-as-new"
        ),
        drive=chat_across_runs,
        min_runs=3,
    ),
]


@dataclass
class Provenance:
    """What recorded a history: enough to rebuild that code from the repository."""

    agentic_loop: str
    git_commit: str
    # Whether the package's .py files, as imported, are exactly the commit's: if not, the
    # commit alone does not rebuild the code that recorded the history. None: no git here.
    source_matches_commit: bool | None
    # Of the package's .py files as imported: names the code exactly even on a dirty tree.
    source_sha256: str
    temporalio: str
    temporal_cli: str
    recorded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat("T", "seconds"))


def _run(*command: str) -> str | None:
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def _package_sources() -> dict[str, bytes]:
    package = Path(agentic_loop.__file__).parent
    return {p.relative_to(package).as_posix(): p.read_bytes() for p in package.rglob("*.py")}


def source_digest(sources: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name] + b"\0")
    return digest.hexdigest()


def matches_commit(sources: dict[str, bytes], commit: str) -> bool | None:
    prefix = f"{PACKAGE_PATH}/"
    listed = _run("git", "ls-tree", "-r", "--name-only", commit, "--", prefix)
    if listed is None:
        return None
    committed = {p.removeprefix(prefix) for p in listed.splitlines() if p.endswith(".py")}
    if committed != set(sources):
        return False
    for name in committed:
        shown = subprocess.run(
            ["git", "show", f"{commit}:{prefix}{name}"], cwd=ROOT, capture_output=True, check=False
        )
        if shown.returncode != 0 or shown.stdout != sources[name]:
            return False
    return True


def provenance() -> Provenance:
    sources = _package_sources()
    commit = os.environ.get(SOURCE_COMMIT_ENV) or _run("git", "rev-parse", "HEAD")
    return Provenance(
        agentic_loop=metadata.version("agentic-loop"),
        git_commit=commit or "unknown",
        source_matches_commit=matches_commit(sources, commit) if commit else None,
        source_sha256=source_digest(sources),
        temporalio=metadata.version("temporalio"),
        temporal_cli=_run(temporal_cli(), "--version") or "unknown",
    )


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
    async with build_worker(client, task_queue=task_queue, provider=llm):
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
    commit = _run("git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
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
    if commit is not None and not matches_commit(_package_sources(), commit):
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
