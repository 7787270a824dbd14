"""Record the event histories in fixtures/histories from real runs on the embedded dev server.

Each scenario runs AgentWorkflow with a ScriptedLLM on a worker from `build_worker`, exactly as
a user's worker would, and saves the history as `temporal workflow show --output json` does.
tests/replay then replays every saved history against the current code.

    nox -s record                    # record the scenarios that have no history yet
    nox -s record -- --suffix v2     # record seed-v2.json etc. beside the old ones
    nox -s record -- --only seed     # just one scenario (repeatable)

An existing history is never replaced unless `--overwrite` is given, and that is not the way
to make a failing replay pass: see docs/versioning.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError

import agentic_loop
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.server import start_dev_server, temporal_cli
from agentic_loop.types import AgentInput, AgentResult, AgentStatus
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "fixtures" / "scripts"
HISTORIES = ROOT / "fixtures" / "histories"
INDEX_NAME = "index.json"
# A run that takes longer than this on the dev server is stuck, not slow.
RUN_TIMEOUT_SECONDS = 60.0

INDEX_ABOUT = (
    "Event histories recorded by scripts/record_histories.py (`nox -s record`) on the embedded "
    "dev server. tests/replay replays each against the current code and checks that its "
    "recorded result still matches `expect`. A history is never re-recorded to make a failing "
    "replay pass: see docs/versioning.md."
)


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    input: AgentInput
    expect_status: AgentStatus
    notes: str = ""

    @property
    def script_path(self) -> Path:
        return SCRIPTS / self.script


SEED_GOAL = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"

SCENARIOS = [
    Scenario("seed", "seed.json", AgentInput(goal=SEED_GOAL), AgentStatus.COMPLETED),
    Scenario(
        "parallel_tools",
        "parallel_tools.json",
        AgentInput(goal="What is 12 * 7, and what does durable execution mean?"),
        AgentStatus.COMPLETED,
        notes="calculator runs as a local activity (a marker), web_search as an activity",
    ),
    Scenario(
        "parallel_tools_as_activities",
        "parallel_tools.json",
        AgentInput(goal="What is 12 * 7, and what does durable execution mean?", local_tools=[]),
        AgentStatus.COMPLETED,
        notes="local_tools=[]: both tools are regular activities, scheduled together",
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
    prefix = "src/agentic_loop/"
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
    commit = _run("git", "rev-parse", "HEAD")
    return Provenance(
        agentic_loop=metadata.version("agentic-loop"),
        git_commit=commit or "unknown",
        source_matches_commit=matches_commit(sources, commit) if commit else None,
        source_sha256=source_digest(sources),
        temporalio=metadata.version("temporalio"),
        temporal_cli=_run(temporal_cli(), "--version") or "unknown",
    )


def history_file(scenario: Scenario, suffix: str | None) -> str:
    return f"{scenario.name}-{suffix}.json" if suffix else f"{scenario.name}.json"


def _expectation(result: AgentResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "turns": result.turns,
        "tool_calls": result.tool_calls,
        "answer": result.answer,
        "error": result.error,
    }


async def record(
    scenario: Scenario, client: Client, workflow_id: str
) -> tuple[str, dict[str, Any]]:
    """Run one scenario to its end; its history as JSON, and the index entry's facts."""
    task_queue = f"record-{scenario.name}-{uuid.uuid4().hex[:8]}"
    llm = ScriptedLLM.from_file(scenario.script_path)
    async with build_worker(client, task_queue=task_queue, provider=llm):
        handle = await client.start_workflow(
            AgentWorkflow.run, scenario.input, id=workflow_id, task_queue=task_queue
        )
        result: AgentResult = await asyncio.wait_for(handle.result(), RUN_TIMEOUT_SECONDS)
        history = await handle.fetch_history()
    if result.status != scenario.expect_status:
        raise RuntimeError(
            f"scenario {scenario.name!r} ended {result.status.value}, not "
            f"{scenario.expect_status.value} (error: {result.error}); nothing was written"
        )
    facts = {
        "workflow_id": workflow_id,
        "run_id": history.run_id,
        "events": len(history.events),
        "expect": _expectation(result),
    }
    return history.to_json() + "\n", facts


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


def plan(args: argparse.Namespace) -> list[tuple[Scenario, Path]]:
    """The histories to record; the ones that exist are reported as skipped."""
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    todo = []
    for scenario in chosen:
        target = args.out / history_file(scenario, args.suffix)
        if target.exists() and not args.overwrite:
            print(f"skipped {_display(target)}: it exists (--overwrite replaces it)", flush=True)
        else:
            todo.append((scenario, target))
    return todo


async def record_all(todo: list[tuple[Scenario, Path]], index_path: Path) -> int:
    index = load_index(index_path)
    made = provenance()
    failed = 0
    env = await start_dev_server()
    try:
        for scenario, target in todo:
            try:
                text, facts = await record(scenario, env.client, f"history-{target.stem}")
            except (RuntimeError, TimeoutError, WorkflowFailureError) as e:
                print(f"failed  {_display(target)}: {e}", file=sys.stderr)
                failed += 1
                continue
            target.write_text(text, encoding="utf-8")
            entry = {
                "file": target.name,
                "scenario": scenario.name,
                "script": _display(scenario.script_path),
                "notes": scenario.notes,
                "input": dataclasses.asdict(scenario.input),
                **facts,
                "recorded_with": dataclasses.asdict(made),
            }
            index["histories"] = [e for e in index["histories"] if e["file"] != target.name]
            index["histories"].append(entry)
            # Saved after each file, so an interrupted run leaves an index that matches the disk.
            save_index(index_path, index)
            expect = facts["expect"]
            print(
                f"wrote   {_display(target)} ({facts['events']} events, {expect['status']})",
                flush=True,
            )
    finally:
        await env.shutdown()
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Fixtures must replay on any machine, so they are never sealed with a local codec key.
    os.environ.pop("AGENTIC_LOOP_CODEC_KEYS", None)
    args.out.mkdir(parents=True, exist_ok=True)
    todo = plan(args)
    if not todo:
        return 0
    return asyncio.run(record_all(todo, args.out / INDEX_NAME))


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
