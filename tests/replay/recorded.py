"""The recorded histories of fixtures/histories and how the replay tests judge them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from agentic_loop.config import Settings
from agentic_loop.replay import failure_reason
from agentic_loop.temporal.plugin import WORKFLOWS, AgentLoopPlugin
from support import FIXTURES

HISTORIES = FIXTURES / "histories"
INDEX = HISTORIES / "index.json"
HISTORY_FILES = sorted(p for p in HISTORIES.glob("*.json") if p != INDEX)
# The `expect.status` of a run that ended by continuing as new: it has no result of its own.
CONTINUED_AS_NEW = "continued_as_new"


def index_entries() -> dict[str, dict[str, Any]]:
    data = json.loads(INDEX.read_text(encoding="utf-8"))
    return {entry["file"]: entry for entry in data["histories"]}


def load(path: Path) -> WorkflowHistory:
    data = json.loads(path.read_text(encoding="utf-8"))
    started = data["events"][0]["workflowExecutionStartedEventAttributes"]
    return WorkflowHistory.from_json(started.get("workflowId", path.stem), data)


def history_params() -> list[Any]:
    """One pytest param per history file, with the file name as its test id."""
    return [pytest.param(path, id=path.name) for path in HISTORY_FILES]


async def replay_or_fail(path: Path, workflows: Sequence[type] = WORKFLOWS) -> None:
    """Replay one file as the workers would run it (the plugin's converter, runner and
    interceptors; `workflows` instead of ours when given); a failure names the file and the
    cause."""
    replayer = Replayer(workflows=list(workflows), plugins=[AgentLoopPlugin(Settings())])
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    if result.replay_failure is not None:
        failure = result.replay_failure
        pytest.fail(
            f"{path.name} no longer replays against this code "
            f"({type(failure).__name__}): {failure_reason(failure)}",
            pytrace=False,
        )


def event_shape(events: Sequence[HistoryEvent]) -> list[str]:
    """Event types in order, with the activity or marker name where there is one."""
    shape = []
    for event in events:
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        if event.HasField("activity_task_scheduled_event_attributes"):
            kind += " " + event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.HasField("marker_recorded_event_attributes"):
            kind += " " + event.marker_recorded_event_attributes.marker_name
        shape.append(kind)
    return shape
