"""The recorded histories (tests/histories, from real runs of scenarios.py) replay against the
code here, and a planted incompatible change is caught by that replay, as it would be before a
deploy."""

from __future__ import annotations

from pathlib import Path

import pytest
from agentic_loop import AgentLoopPlugin
from agentic_loop.testing import ReplayFailed, histories, replay
from temporalio.workflow import NondeterminismError

from changed_workflow import PausesFirst
from notes_support import HISTORIES
from scenarios import RECORDED


@pytest.mark.parametrize("path", histories(HISTORIES))
async def test_recorded_history_replays(path: Path, agent_plugin: AgentLoopPlugin) -> None:
    """The workers' plugin (converter, workflows, sandbox) replays this history without
    nondeterminism."""
    await replay(path, agent_plugin)


def test_every_scenario_has_a_recorded_history() -> None:
    """Each recorded scenario has its history, and no history is left without a scenario: a
    lost history must be a visible decision."""
    assert sorted(p.stem for p in HISTORIES.glob("*.json")) == sorted(s.name for s in RECORDED)


@pytest.mark.parametrize("path", histories(HISTORIES))
async def test_a_changed_workflow_fails_the_replay_of_this_history(
    path: Path, agent_plugin: AgentLoopPlugin
) -> None:
    """Against an AgentWorkflow that would schedule another first command, the replay fails
    with a NondeterminismError, naming the file."""
    with pytest.raises(ReplayFailed, match=rf"^{path}") as failed:
        await replay(path, agent_plugin, workflows=[PausesFirst])
    assert isinstance(failed.value.failure, NondeterminismError)
