"""An LLM outage in real time on the dev server, ridden out by a patient retry policy."""

from __future__ import annotations

import asyncio
import time
import uuid

from harness import assistant_turns
from temporalio.client import Client

from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.tools import default_registry
from agentic_loop.types import (
    AgentInput,
    AgentStatus,
    RetrySettings,
    TranscriptRequest,
)
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow

# Real seconds of CI time, so kept short; the time-skipping unit tests
# (tests/unit/test_outage.py) cover outages of hours. Longer than the default policy's ~15 s
# of back-off, so only the patient policy below gets through it.
OUTAGE_SECONDS = 25.0
ANSWER = "5 + 3 = 8, and the outage is over."


async def test_a_real_time_outage_is_waited_out_with_unlimited_attempts_and_a_short_interval(
    client: Client,
) -> None:
    """A 25 s window of 503s on the second LLM turn is retried every ≤2 s under unlimited
    attempts bounded by schedule-to-close; the first attempt after the window answers, and
    the transcript from before the outage reaches it whole."""
    llm = ScriptedLLM.from_data(
        {
            "turns": [
                {"tool_calls": [{"name": "calculator", "arguments": {"expression": "5 + 3"}}]},
                {
                    "expect": {"role": "tool", "contains": "8"},
                    "faults": [{"outage_seconds": OUTAGE_SECONDS, "message": "LLM down"}],
                    "content": ANSWER,
                },
            ]
        }
    )
    task_queue = f"tq-outage-{uuid.uuid4()}"
    patient = RetrySettings(
        initial_interval_seconds=1,
        maximum_interval_seconds=2,
        maximum_attempts=0,
        schedule_to_close_seconds=120,
    )
    worker = build_worker(client, task_queue=task_queue, provider=llm, tools=default_registry())
    async with worker:
        started = time.monotonic()
        handle = await client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="outage: add 5 and 3", llm_retry=patient),
            id=f"outage-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await asyncio.wait_for(handle.result(), 120)
        elapsed = time.monotonic() - started
        page = await handle.query(AgentWorkflow.transcript, TranscriptRequest())

    second_turn = [r for r in llm.requests if assistant_turns(r) == 1]
    print(
        f"\noutage of {OUTAGE_SECONDS:.0f} s ridden out in {len(second_turn)} attempts; "
        f"run took {elapsed:.1f} s"
    )
    assert result.status == AgentStatus.COMPLETED
    assert result.answer == ANSWER
    assert all(r.elapsed_seconds < OUTAGE_SECONDS for r in second_turn[:-1])
    assert second_turn[-1].elapsed_seconds >= OUTAGE_SECONDS
    # More attempts than the default policy's five: that policy would have failed the run.
    assert len(second_turn) > 5
    assert [(m.role, m.content) for m in page.messages[2:]] == [
        ("assistant", ""),
        ("tool", "8"),
        ("assistant", ANSWER),
    ]
