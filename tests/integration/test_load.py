"""Many conversations at once on one worker, with seeded random faults, on the dev server."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import pytest
from conversations import random_conversation, transcript_matches
from harness import ScriptBook
from temporalio.client import Client, WorkflowHandle

from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.tools import default_registry
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import AgentInput, AgentStatus, Message
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow

CONVERSATIONS = 200
SEED = 20261201
# A bound against a hang, not a performance target: throughput is printed, never asserted.
DEADLINE = 600.0


# Past its own DEADLINE, with time to start the runs and read their transcripts (the default
# pytest-timeout, in pyproject.toml, is for tests that take seconds).
@pytest.mark.timeout(DEADLINE + 300)
async def test_two_hundred_concurrent_conversations_with_faults_all_complete(
    client: Client,
) -> None:
    """200 conversations at once on one worker, with retryable LLM faults and refused tool
    calls sprinkled in by a seeded RNG, all complete with their expected answer and
    transcript, and the injected faults really were met."""
    rng = random.Random(SEED)
    conversations = [random_conversation(rng, f"load-{i}") for i in range(CONVERSATIONS)]
    scripts = {c.name: ScriptedLLM.from_data(c.script, name=c.name) for c in conversations}
    task_queue = f"tq-load-{uuid.uuid4()}"
    worker = build_worker(
        client, task_queue=task_queue, provider=ScriptBook(scripts), tools=default_registry()
    )
    async with worker:
        started = time.monotonic()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    AgentWorkflow.run,
                    AgentInput(goal=c.goal),
                    id=f"{c.name}-{uuid.uuid4()}",
                    task_queue=task_queue,
                )
                for c in conversations
            )
        )
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), DEADLINE)
        elapsed = time.monotonic() - started
        # Read back as the `transcript` command reads a closed run: its history replayed here,
        # a few at a time (200 queries at once to closed runs, each a replay on the one
        # worker, timed out on a busy machine).
        gate = asyncio.Semaphore(8)

        async def read(handle: WorkflowHandle[Any, Any]) -> list[Message]:
            async with gate:
                return await read_transcript(client, handle.id)

        transcripts = await asyncio.gather(*(read(h) for h in handles))

    steps = sum(r.turns + r.tool_calls for r in results)
    faults = sum(c.failed_attempts for c in conversations)
    refusals = sum(1 for c in conversations for _, _, error in c.transcript if error)
    print(
        f"\n{CONVERSATIONS} conversations, {steps} steps (LLM turns + tool calls), "
        f"{faults} failed LLM attempts injected, {refusals} refused tool calls: "
        f"{elapsed:.1f} s, {CONVERSATIONS / elapsed:.1f} conversations/s, "
        f"{steps / elapsed:.1f} steps/s"
    )
    wrong = [
        c.name
        for c, r in zip(conversations, results, strict=True)
        if (r.status, r.answer, r.turns, r.tool_calls)
        != (AgentStatus.COMPLETED, c.answer, c.turns, c.tool_calls)
    ]
    assert wrong == []
    garbled = [
        c.name
        for c, messages in zip(conversations, transcripts, strict=True)
        if not transcript_matches(c, messages)
    ]
    assert garbled == []
    assert faults > CONVERSATIONS / 4
    assert refusals > CONVERSATIONS / 5
    retried = sum(1 for s in scripts.values() for r in s.requests if r.attempt > 1)
    # Every injected fault was met and retried. A machine too busy to heartbeat within 10 s
    # (seen in CI: workflow tasks over 5 s) times out a few more attempts, which Temporal
    # retries as it should: more retries than faults is load, fewer would be a lost fault.
    assert retried >= faults
