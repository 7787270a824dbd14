"""Every recorded history replays against the current code and still means what it meant."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from recorded import (
    CONTINUED_AS_NEW,
    HISTORIES,
    HISTORY_FILES,
    event_shape,
    history_params,
    index_entries,
    load,
    replay_or_fail,
)
from temporalio.api.enums.v1 import EventType

from agentic_loop.temporal.plugin import data_converter
from agentic_loop.tools import default_registry
from agentic_loop.types import AgentInput, AgentResult, AgentStatus
from agentic_loop.workflow.visibility import AGENT_FAILED, OUTCOME_PATCH
from support import FIXTURES

# Scenarios the issue asks to keep a history of; losing one must be a visible decision.
REQUIRED_SCENARIOS = {
    "seed",
    "parallel_tools",
    "retry_429",
    "tool_error_corrected",
    "max_turns",
    "non_retryable_401",
    # Conversations, driven while they ran: updates, signals, timers, cancel, continue-as-new.
    "chat_wait_then_end",
    "chat_message_queued",
    "approval_approved",
    "approval_rejected",
    "approval_expired",
    "idle_timeout",
    "cancelled_during_llm",
    "max_tokens",
    "chat_continue_as_new",
    # A parent with two sub-agents (one of the input's, one of the worker's), and each child.
    "sub_agents",
    # MCP tools: the run's tool catalog recorded by the first LLM turn, named by key later.
    "mcp_tools",
}


@pytest.mark.parametrize("path", history_params())
async def test_history_replays_against_the_current_workflow_code(path: Path) -> None:
    """The worker's workflows and converter replay this history without nondeterminism."""
    await replay_or_fail(path)


def _recorded_part(decoded: Any, recorded: Any) -> Any:
    """`decoded` with only the keys `recorded` has, at every depth: what a field added since
    (in the input or in the state it carries) holds is its default, not a recorded value."""
    if isinstance(decoded, dict) and isinstance(recorded, dict):
        return {k: _recorded_part(decoded[k], recorded[k]) for k in recorded if k in decoded}
    if isinstance(decoded, list) and isinstance(recorded, list) and len(decoded) == len(recorded):
        return [_recorded_part(d, r) for d, r in zip(decoded, recorded, strict=True)]
    return decoded


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
    assert _recorded_part(decoded, entry["input"]) == entry["input"]

    last = events[-1]
    if entry["expect"]["status"] == CONTINUED_AS_NEW:
        # A run that continued as new has no result: it hands its state to the next run.
        assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, (
            f"{path.name} ends with {EventType.Name(last.event_type)}, not continue-as-new"
        )
        continued = last.workflow_execution_continued_as_new_event_attributes
        assert continued.new_execution_run_id == entry["expect"]["new_run_id"]
        [next_input] = await converter.decode(list(continued.input.payloads), [AgentInput])
        assert next_input.carried is not None, f"{path.name} carried no state to the next run"
        assert next_input.carried.previous_run_id == entry["run_id"]
        return
    if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
        # Since OUTCOME_PATCH a cancelled agent ends as a cancelled execution, which carries
        # no result: the index's expectation was read back from the run's state.
        assert entry["expect"]["status"] == AgentStatus.CANCELLED.value, path.name
        assert _markers(events) == {OUTCOME_PATCH}, f"{path.name} lacks the outcome marker"
        return
    if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        # Since OUTCOME_PATCH a failed agent fails its execution, its result the detail.
        failure = last.workflow_execution_failed_event_attributes.failure
        assert failure.application_failure_info.type == AGENT_FAILED, path.name
        details = failure.application_failure_info.details.payloads
        [result] = await converter.decode(list(details), [AgentResult])
    else:
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


def _markers(events: Any) -> set[str]:
    """The patch ids a history's markers record."""
    found = set()
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            payloads = event.marker_recorded_event_attributes.details["patch-data"].payloads
            found.add(json.loads(payloads[0].data)["id"])
    return found


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


def runs_of_continued_conversations() -> list[Any]:
    """One pytest param per scenario recorded as several runs: its entries, in run order."""
    by_scenario: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in index_entries().values():
        if "run" in entry:
            by_scenario.setdefault((entry["scenario"], entry["workflow_id"]), []).append(entry)
    return [
        pytest.param(sorted(runs, key=lambda e: e["run"]), id=workflow_id)
        for (_, workflow_id), runs in sorted(by_scenario.items())
    ]


@pytest.mark.parametrize("runs", runs_of_continued_conversations())
def test_the_runs_of_a_continued_conversation_form_one_unbroken_chain(
    runs: list[dict[str, Any]],
) -> None:
    """Each recorded run continued as the next one's run id, which names it as its
    predecessor, and only the last run has a result."""
    assert [e["run"] for e in runs] == list(range(1, len(runs) + 1))
    assert all(e["runs"] == len(runs) for e in runs), "a run of the conversation is missing"
    assert len(runs) >= 2
    for earlier, later in itertools.pairwise(runs):
        assert earlier["expect"] == {"status": CONTINUED_AS_NEW, "new_run_id": later["run_id"]}
        started = load(HISTORIES / later["file"]).events[0]
        attributes = started.workflow_execution_started_event_attributes
        assert attributes.continued_execution_run_id == earlier["run_id"], later["file"]
    assert runs[-1]["expect"]["status"] != CONTINUED_AS_NEW


@pytest.mark.parametrize("path", history_params())
def test_event_shape_of_each_history_is_a_conscious_decision(path: Path, snapshot: Any) -> None:
    """The sequence of event types of each recorded history matches its snapshot."""
    assert event_shape(load(path).events) == snapshot


def test_tool_schemas_sent_to_the_llm_match_the_snapshot(snapshot: Any) -> None:
    """The JSON schemas the tools offer the LLM change only with a snapshot update."""
    assert default_registry().schemas() == snapshot
