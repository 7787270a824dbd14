"""`agentic-loop replay`: judge exported histories against the workflow code installed here.

A history exported with `temporal workflow show -w ID --output json > file.json` is replayed
with the worker's own workflows and data converter. A history that diverges would make a
worker running this code fail that workflow's tasks: deploy only when every history is ok.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from google.protobuf.json_format import ParseError
from temporalio.client import WorkflowHistory
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Replayer

from agentic_loop.temporal.plugin import WORKFLOWS, AgentLoopPlugin, registered_name, replayer

OK = "ok"
DIVERGED = "diverged"
ERROR = "error"
# A JSON file met while searching a directory that is not a history of ours (an index, a
# history of another workflow type): reported, but it does not fail the command.
SKIPPED = "skipped"

# Core wraps the reason in a Rust debug dump; the first `message` holds the sentence.
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


@dataclass
class Outcome:
    path: str
    result: str
    reason: str = ""
    workflow_id: str | None = None
    run_id: str | None = None

    def line(self) -> str:
        reason = " ".join(self.reason.split())
        return f"{self.result}  {self.path}" + (f": {reason}" if reason else "")


class NotAHistory(ValueError):
    """Readable JSON that is not an event history of a workflow this program defines."""


def workflow_names() -> list[str]:
    names = (registered_name(cls) for cls in WORKFLOWS)
    return [name for name in names if name is not None]


def load_history(path: Path) -> WorkflowHistory:
    """Parse an exported history; OSError or ValueError if unreadable, NotAHistory if not one."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg}, line {e.lineno})") from e
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise NotAHistory("not a workflow history (no 'events' list)")
    try:
        events = WorkflowHistory.from_json(path.stem, data).events
    except (ValueError, ParseError) as e:
        raise ValueError(f"not a readable workflow history: {e}") from e
    if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
        raise NotAHistory("not a workflow history (it does not begin with the workflow start)")
    started = events[0].workflow_execution_started_event_attributes
    names = workflow_names()
    if started.workflow_type.name not in names:
        raise NotAHistory(
            f"a history of workflow type {started.workflow_type.name!r}; "
            f"this program defines {', '.join(names)}"
        )
    # Exports do not carry the workflow id beside the events; recent servers put it here.
    return WorkflowHistory(started.workflow_id or path.stem, events)


def _candidates(paths: list[str]) -> Iterator[tuple[Path, bool] | Outcome]:
    """Files to judge, each with whether it was named explicitly; an Outcome for a bad path."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                yield Outcome(raw, ERROR, "no *.json files in this directory")
            for file in found:
                yield file, False
        elif path.is_file():
            yield path, True
        else:
            yield Outcome(raw, ERROR, "no such file or directory")


def failure_reason(failure: Exception) -> str:
    """The sentence of a replay failure, e.g. "[TMPRL1100] Nondeterminism error: ..."."""
    text = str(failure)
    match = _CORE_MESSAGE.search(text)
    if match is None:
        return text
    return match.group(1).replace('\\"', '"').replace("\\\\", "\\")


async def _replay_one(replayer: Replayer, path: Path, explicit: bool) -> Outcome:
    shown = str(path)
    try:
        history = load_history(path)
    except NotAHistory as e:
        return Outcome(shown, ERROR if explicit else SKIPPED, str(e))
    except OSError as e:
        return Outcome(shown, ERROR, f"cannot read it: {e.strerror or e}")
    except (ValueError, UnicodeDecodeError) as e:
        return Outcome(shown, ERROR, str(e))
    ids = {"workflow_id": history.workflow_id, "run_id": history.run_id}
    try:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    except Exception as e:  # a history core refuses outright must not stop the other files
        return Outcome(shown, ERROR, f"the replayer could not run it: {e}", **ids)
    if result.replay_failure is not None:
        return Outcome(shown, DIVERGED, failure_reason(result.replay_failure), **ids)
    return Outcome(shown, OK, **ids)


@contextlib.contextmanager
def _quiet_sdk_logs() -> Iterator[None]:
    """Each divergence is reported once, as a line of ours, not also as an SDK traceback."""
    logger = logging.getLogger("temporalio.worker")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def replay_paths(paths: list[str], plugin: AgentLoopPlugin | None = None) -> list[Outcome]:
    """Replay each history file under `paths` (files, or directories searched for *.json),
    with `plugin`'s converter and workflows (an AgentLoopPlugin from the environment unless
    given)."""
    outcomes: list[Outcome] = []
    seen: set[Path] = set()
    with ThreadPoolExecutor() as executor, _quiet_sdk_logs():
        judge = replayer(
            plugin,
            workflow_task_executor=executor,
            runtime=Runtime(telemetry=TelemetryConfig(logging=None)),
        )
        for candidate in _candidates(paths):
            if isinstance(candidate, Outcome):
                outcomes.append(candidate)
                continue
            path, explicit = candidate
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            outcomes.append(await _replay_one(judge, path, explicit))
    return outcomes


async def replay_command(
    paths: list[str], *, as_json: bool = False, plugin: AgentLoopPlugin | None = None
) -> int:
    """One line per file on stdout, a summary on stderr; 0 only if every history replays."""
    outcomes = await replay_paths(paths, plugin)
    for outcome in outcomes:
        print(json.dumps(asdict(outcome), ensure_ascii=False) if as_json else outcome.line())
    counts = {kind: sum(o.result == kind for o in outcomes) for kind in (OK, DIVERGED, ERROR)}
    skipped = sum(o.result == SKIPPED for o in outcomes)
    summary = f"{counts[OK]} replayed, {counts[DIVERGED]} diverged, {counts[ERROR]} errors"
    print(summary + (f", {skipped} skipped" if skipped else ""), file=sys.stderr)
    if counts[OK] == 0 and not counts[DIVERGED] and not counts[ERROR]:
        print("agentic-loop: error: no workflow histories found", file=sys.stderr)
        return 1
    return 0 if counts[DIVERGED] == counts[ERROR] == 0 else 1
