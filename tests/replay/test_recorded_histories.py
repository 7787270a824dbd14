"""Every recorded history replays against the current code and still means what it meant."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from recorded import HISTORY_FILES, event_shape, history_params, index_entries, load, replay_or_fail
from temporalio.api.enums.v1 import EventType

from agentic_loop.tools import default_registry
from agentic_loop.types import AgentInput, AgentResult
from agentic_loop.worker import data_converter
from support import FIXTURES

# Scenarios the issue asks to keep a history of; losing one must be a visible decision.
REQUIRED_SCENARIOS = {
    "seed",
    "parallel_tools",
    "retry_429",
    "tool_error_corrected",
    "max_turns",
    "non_retryable_401",
}


@pytest.mark.parametrize("path", history_params())
async def test_history_replays_against_the_current_workflow_code(path: Path) -> None:
    """The worker's workflows and converter replay this history without nondeterminism."""
    await replay_or_fail(path)


@pytest.mark.parametrize("path", history_params())
async def test_recorded_result_is_the_one_the_index_expects(path: Path) -> None:
    """The history ends with the result its index entry promises, from the input it lists."""
    entry = index_entries()[path.name]
    events = load(path).events
    converter = data_converter()
    started = events[0].workflow_execution_started_event_attributes
    payloads = list(started.input.payloads)
    # As recorded, the input is exactly the index's; decoded by today's types, fields added
    # since then take their defaults and the recorded ones keep their values.
    assert json.loads(payloads[0].data) == entry["input"], f"{path.name} had another input"
    [agent_input] = await converter.decode(payloads, [AgentInput])
    decoded = dataclasses.asdict(agent_input)
    assert {name: decoded[name] for name in entry["input"]} == entry["input"]

    last = events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, (
        f"{path.name} ends with {EventType.Name(last.event_type)}"
    )
    results = last.workflow_execution_completed_event_attributes.result.payloads
    [result] = await converter.decode(list(results), [AgentResult])
    recorded = {
        "status": result.status.value,
        "turns": result.turns,
        "tool_calls": result.tool_calls,
        "answer": result.answer,
        "error": result.error,
    }
    assert recorded == entry["expect"], f"{path.name} recorded a different result"


def test_every_history_is_indexed_and_every_entry_has_its_history() -> None:
    """index.json and the history files name the same set, covering the required scenarios."""
    entries = index_entries()
    assert set(entries) == {p.name for p in HISTORY_FILES}
    assert {e["scenario"] for e in entries.values()} >= REQUIRED_SCENARIOS
    for name, entry in entries.items():
        facts = entry["recorded_with"]
        for fact in ("git_commit", "agentic_loop", "temporalio", "recorded_at"):
            assert facts[fact], f"{name}: {fact} is not recorded"
        script = FIXTURES.parent / entry["script"]
        assert script.is_file(), f"{name}: its script {entry['script']} is gone"


@pytest.mark.parametrize("path", history_params())
def test_event_shape_of_each_history_is_a_conscious_decision(path: Path, snapshot: Any) -> None:
    """The sequence of event types of each recorded history matches its snapshot."""
    assert event_shape(load(path).events) == snapshot


def test_tool_schemas_sent_to_the_llm_match_the_snapshot(snapshot: Any) -> None:
    """The JSON schemas the tools offer the LLM change only with a snapshot update."""
    assert default_registry().schemas() == snapshot
