"""The replay suite catches an incompatible workflow change, and `workflow.patched()` fixes it
(the change itself is in versioning_example.py)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from recorded import HISTORIES, event_shape, history_params, load, replay_or_fail
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from temporalio.workflow import NondeterminismError
from versioning_example import (
    PAUSE,
    DeprecatedPause,
    GuardedPause,
    RetiredPause,
    UnguardedPause,
)

from agentic_loop.activities import LLMActivities, ToolActivities
from agentic_loop.config import Settings
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.tools import default_registry
from agentic_loop.types import AgentInput, AgentResult, AgentStatus
from agentic_loop.workflow import AgentWorkflow
from support import load_script

SEED = HISTORIES / "seed.json"


async def test_an_unguarded_new_step_breaks_the_recorded_seed_history() -> None:
    """Replaying the seed history against the unguarded change raises NondeterminismError."""
    replayer = Replayer(workflows=[UnguardedPause], plugins=[AgentLoopPlugin(Settings())])
    with pytest.raises(NondeterminismError, match=r"(?i)nondetermin"):
        await replayer.replay_workflow(load(SEED))


@pytest.mark.parametrize("path", history_params())
async def test_the_patched_change_replays_every_recorded_history(path: Path) -> None:
    """With the new step behind workflow.patched(), every old history replays cleanly."""
    await replay_or_fail(path, workflows=[GuardedPause])


async def _run_seed(env: WorkflowEnvironment, version: type) -> WorkflowHistory:
    """Run the seed scenario to its end on a worker that has `version` as AgentWorkflow."""
    task_queue = f"tq-{uuid.uuid4()}"
    tools = default_registry()
    worker = Worker(
        env.client,
        task_queue=task_queue,
        workflows=[version],
        activities=[
            LLMActivities(load_script("seed"), tools).call_llm,
            ToolActivities(tools).run_tool,
        ],
    )
    async with worker:
        handle = await env.client.start_workflow(
            "AgentWorkflow",
            AgentInput(goal="5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"),
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
            result_type=AgentResult,
        )
        result = await asyncio.wait_for(handle.result(), 60)
        assert result.status == AgentStatus.COMPLETED
        return await handle.fetch_history()


async def _replays(version: type, history: WorkflowHistory) -> bool:
    replayer = Replayer(workflows=[version], plugins=[AgentLoopPlugin(Settings())])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure is None


async def test_the_patched_change_takes_the_new_path_for_new_workflows(
    time_env: WorkflowEnvironment,
) -> None:
    """A new run records the patch marker and starts its pause timer before the first LLM call,
    and its own history replays against the patched code."""
    history = await _run_seed(time_env, GuardedPause)
    shape = event_shape(history.events)
    first_llm = shape.index("ACTIVITY_TASK_SCHEDULED call_llm")
    assert "MARKER_RECORDED core_patch" in shape[:first_llm]
    assert "TIMER_STARTED" in shape[:first_llm]
    timer = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED)
    assert timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == PAUSE
    assert await _replays(GuardedPause, history)
    # A run that took the new path cannot go back to the old code: rolling back is not free.
    assert not await _replays(AgentWorkflow, history)


async def test_each_retirement_step_replays_the_runs_of_the_step_before(
    time_env: WorkflowEnvironment,
) -> None:
    """deprecate_patch replays runs of the patched code and the plain code replays runs of the
    deprecate_patch code, while skipping a step, or dropping the old path early, diverges."""
    patched = await _run_seed(time_env, GuardedPause)
    deprecated = await _run_seed(time_env, DeprecatedPause)
    assert await _replays(DeprecatedPause, patched)
    assert await _replays(RetiredPause, deprecated)
    assert not await _replays(RetiredPause, patched)
    assert not await _replays(DeprecatedPause, load(SEED))
