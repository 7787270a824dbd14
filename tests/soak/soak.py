"""Soak: conversations on a real dev server while the worker process is SIGKILLed again and
again, with injected LLM faults, refused tool calls, slow tools and side effects; then a report.

    nox -s soak                     # or: python tests/soak/soak.py --chaos-seconds 120

Bounded: kills stop after --chaos-seconds, every conversation must then finish within
--drain-seconds, and every process it started is stopped on the way out. Exit code 0 only if
every conversation completed with the right answer and an intact transcript, and no effect of
the idempotent tool was written twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The harness is shared with the integration tests, which pytest imports from their folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from conversations import Conversation, random_conversation, transcript_matches
from harness import (
    DevServer,
    WorkerProcess,
    connect,
    ledger_entries,
    llm_requests,
    tool_runs,
    write_script,
)
from temporalio.client import Client, WorkflowHandle

from agentic_loop.types import (
    AgentInput,
    AgentResult,
    AgentStatus,
    RetrySettings,
    TranscriptRequest,
)
from agentic_loop.workflow import AgentWorkflow


def _agent_input(conversation: Conversation) -> AgentInput:
    # Short timeouts, so an attempt lost with a killed worker is retried within seconds; and
    # more attempts than the defaults, since every kill mid-attempt spends one.
    return AgentInput(
        goal=conversation.goal,
        llm_timeout_seconds=10.0,
        llm_retry=RetrySettings(maximum_attempts=12, maximum_interval_seconds=5.0),
        tool_timeout_seconds=6.0,
        tool_retry=RetrySettings(maximum_attempts=12, maximum_interval_seconds=5.0),
    )


@dataclass
class Outcome:
    conversation: Conversation
    workflow_id: str
    result: AgentResult | None = None
    error: str | None = None
    transcript_ok: bool = False

    @property
    def right_answer(self) -> bool:
        r = self.result
        c = self.conversation
        return r is not None and (r.status, r.answer, r.turns, r.tool_calls) == (
            AgentStatus.COMPLETED,
            c.answer,
            c.turns,
            c.tool_calls,
        )


class Chaos:
    """One worker process at a time, killed at random intervals and replaced at once."""

    def __init__(self, address: str, task_queue: str, workdir: Path, rng: random.Random) -> None:
        self.address = address
        self.task_queue = task_queue
        self.workdir = workdir
        self.rng = rng
        self.workers: list[WorkerProcess] = []
        self.kills = 0

    async def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(
            self.address, self.task_queue, self.workdir, name=f"worker-{len(self.workers) + 1}"
        )
        self.workers.append(worker)
        worker.start()
        await worker.wait_ready()
        return worker

    async def run(self, seconds: float, interval: tuple[float, float]) -> None:
        worker = self.workers[-1]
        deadline = time.monotonic() + seconds
        while True:
            pause = self.rng.uniform(*interval)
            if time.monotonic() + pause > deadline:
                return
            await asyncio.sleep(pause)  # the chaos schedule itself, not a wait for anything
            worker.kill()
            self.kills += 1
            worker = await self.start_worker()

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.kill()


async def _start_conversations(
    client: Client,
    conversations: list[Conversation],
    task_queue: str,
    spread_seconds: float,
) -> list[tuple[Conversation, WorkflowHandle[Any, AgentResult]]]:
    """Start them spread over `spread_seconds`, so kills meet every phase of a conversation."""
    started = []
    gap = spread_seconds / max(1, len(conversations))
    for conversation in conversations:
        handle = await client.start_workflow(
            AgentWorkflow.run,
            _agent_input(conversation),
            id=f"{conversation.name}-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        started.append((conversation, handle))
        await asyncio.sleep(gap)
    return started


async def _outcome(
    conversation: Conversation, handle: WorkflowHandle[Any, AgentResult], deadline: float
) -> Outcome:
    outcome = Outcome(conversation, handle.id)
    try:
        outcome.result = await asyncio.wait_for(
            handle.result(), max(1.0, deadline - time.monotonic())
        )
        page = await handle.query(AgentWorkflow.transcript, TranscriptRequest())
        outcome.transcript_ok = transcript_matches(conversation, page.messages)
    except Exception as e:  # the report counts it; the exit code fails the soak
        outcome.error = f"{type(e).__name__}: {e}"
    return outcome


def _duplicates(entries: list[dict[str, Any]]) -> int:
    """Effects written more than once: the extra writes, summed over keys."""
    return sum(n - 1 for n in Counter(e["key"] for e in entries).values() if n > 1)


def _report(
    outcomes: list[Outcome], workdir: Path, chaos: Chaos, seconds: float, seed: int
) -> tuple[str, bool]:
    conversations = [o.conversation for o in outcomes]
    completed = sum(
        1 for o in outcomes if o.result is not None and o.result.status == AgentStatus.COMPLETED
    )
    right = sum(1 for o in outcomes if o.right_answer)
    intact = sum(1 for o in outcomes if o.transcript_ok)
    requests = llm_requests(workdir)
    turns = sum(c.turns for c in conversations)
    scripted_failures = sum(c.failed_attempts for c in conversations)
    refusals = sum(1 for c in conversations for _, _, error in c.transcript if error)
    answers = Counter(
        (r["workflow_id"], r["turn"]) for r in llm_requests(workdir, event="answered")
    )
    answered_again = sum(n - 1 for n in answers.values() if n > 1)
    runs = Counter(r["key"] for r in tool_runs(workdir) if r["event"] == "start")
    repeated_runs = sum(n - 1 for n in runs.values() if n > 1)
    dup_keyed = _duplicates(ledger_entries(workdir))
    dup_naive = _duplicates(ledger_entries(workdir, naive=True))
    rows = [
        ("conversations started", len(outcomes)),
        ("completed", completed),
        ("with the right answer", right),
        ("transcripts intact", intact),
        ("worker processes SIGKILLed", chaos.kills),
        ("LLM turns", turns),
        ("LLM attempts failed by the script (429, 5xx, timeout)", scripted_failures),
        ("tool calls refused, then corrected by the LLM", refusals),
        ("LLM requests (turns, scripted faults, kills mid-call)", len(requests)),
        ("LLM turns answered twice (worker died before reporting)", answered_again),
        ("tool runs", sum(runs.values())),
        ("tool runs repeated (worker died mid-run: at-least-once)", repeated_runs),
        ("effects written by the tool with idempotency keys", len(ledger_entries(workdir))),
        ("duplicate effects with idempotency keys", dup_keyed),
        ("duplicate effects without idempotency keys", dup_naive),
    ]
    width = max(len(label) for label, _ in rows) + 1
    lines = [f"soak report (seed {seed}, {seconds:.0f} s in all)"]
    lines += [f"  {label + ':':<{width}} {value:>6}" for label, value in rows]
    for o in outcomes:
        if not (o.right_answer and o.transcript_ok):
            got = o.error or (o.result and (o.result.status, o.result.answer, o.result.error))
            lines.append(f"  ! {o.workflow_id}: {got}")
    ok = right == intact == len(outcomes) and dup_keyed == 0
    lines.append("  PASS" if ok else "  FAIL")
    return "\n".join(lines), ok


async def soak(args: argparse.Namespace, workdir: Path) -> bool:
    began = time.monotonic()
    rng = random.Random(args.seed)
    conversations = [
        random_conversation(rng, f"soak-{i}", slow_step_seconds=(0.2, 2.0), ledger_hold_seconds=1.5)
        for i in range(args.conversations)
    ]
    for conversation in conversations:
        write_script(workdir, conversation.name, conversation.script)
    server = DevServer(workdir / "temporal.db", workdir / "server.log")
    chaos = Chaos("", f"soak-{uuid.uuid4().hex[:8]}", workdir, rng)
    try:
        server.start()
        await server.wait_ready()
        chaos.address = server.address
        client = await connect(server.address)
        await chaos.start_worker()
        print(
            f"soak: {args.conversations} conversations, worker kills every "
            f"{args.kill_every[0]:g}-{args.kill_every[1]:g} s for {args.chaos_seconds:g} s "
            f"(work directory {workdir})",
            flush=True,
        )
        killing = asyncio.create_task(chaos.run(args.chaos_seconds, tuple(args.kill_every)))
        started = await _start_conversations(
            client, conversations, chaos.task_queue, args.chaos_seconds * 0.7
        )
        await killing
        print(f"soak: {chaos.kills} kills done; draining", flush=True)
        deadline = time.monotonic() + args.drain_seconds
        outcomes = await asyncio.gather(*(_outcome(c, h, deadline) for c, h in started))
        report, ok = _report(outcomes, workdir, chaos, time.monotonic() - began, args.seed)
        print(report, flush=True)
        return ok
    finally:
        chaos.stop_all()
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=60)
    parser.add_argument("--chaos-seconds", type=float, default=120.0)
    parser.add_argument(
        "--kill-every", type=float, nargs=2, default=[3.0, 7.0], metavar=("MIN", "MAX")
    )
    parser.add_argument("--drain-seconds", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="agentic-loop-soak-"))
    ok = False
    try:
        ok = asyncio.run(soak(args, workdir))
    finally:
        if args.keep or not ok:
            print(f"soak: journals and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # As in cli.entrypoint: skip finalization, which the SDK's threads can abort.
    os._exit(code)
