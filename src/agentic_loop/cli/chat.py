"""`chat`: a conversation from a terminal (or any stream of lines), approvals at the prompt."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import TextIO

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from agentic_loop.cli.common import (
    POLL_SECONDS,
    Handle,
    agent_input,
    describe_provider,
    exit_code,
    local_agent,
    new_workflow_id,
    print_result,
    start_agent,
    to_json,
)
from agentic_loop.cli.steps import StepPrinter
from agentic_loop.config import Settings
from agentic_loop.types import AgentProgress, AgentStatus, ApprovalRequest, Reply, UserMessage
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.policies import tool_summary

END_COMMANDS = ("/end", "/quit", "/exit")


async def read_line(lines: TextIO, out: TextIO, prompt: str) -> str | None:
    """One line from `lines` (None at end of input), without blocking the event loop."""
    print(prompt, end="", file=out, flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, lines.readline)
    return None if line == "" else line.rstrip("\n")


class Chat:
    """Drives a conversation: shows its steps, asks for approvals, sends messages."""

    def __init__(self, handle: Handle, lines: TextIO, out: TextIO) -> None:
        self.handle = handle
        self.printer = StepPrinter(out, show_answers=True)
        self.lines = lines
        self.out = out

    async def follow(self, answered: Callable[[AgentProgress], bool]) -> AgentProgress:
        """Show the steps and ask for approvals until the request is answered or the run ends."""
        while True:
            await self.printer.poll(self.handle)
            progress: AgentProgress = await self.handle.query(AgentWorkflow.status)
            for call in progress.awaiting_approval:
                await self.decide(call.id, tool_summary(call))
            if answered(progress) or progress.status != AgentStatus.RUNNING:
                await self.printer.poll(self.handle)
                return progress
            await asyncio.sleep(POLL_SECONDS)

    async def decide(self, call_id: str, summary: str) -> None:
        answer = await read_line(self.lines, self.out, f"Approve {summary}? [y/n, or n REASON] ")
        answer = (answer or "n no answer given").strip()
        approved = answer.lower() in ("y", "yes")
        reason = answer[1:].strip() if answer[:1].lower() == "n" else ""
        update = AgentWorkflow.approve if approved else AgentWorkflow.reject
        with contextlib.suppress(WorkflowUpdateFailedError):  # decided or expired meanwhile
            await self.handle.execute_update(update, ApprovalRequest(call_id, reason))

    async def send(self, text: str) -> None:
        # By name: the SDK types a named async update method as returning a coroutine.
        update = asyncio.ensure_future(
            self.handle.execute_update(
                "send_message", UserMessage(text, wait_for_answer=True), result_type=Reply
            )
        )
        await self.follow(lambda _: update.done())
        try:
            await update
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(e)
            print(f"agentic-loop: {reason}", file=self.out)


async def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    out, lines = sys.stdout, sys.stdin
    if not args.goal:
        args.goal = (await read_line(lines, out, "you> ") or "").strip()
    value = agent_input(args, settings, chat=True)
    async with local_agent(args, settings) as agent:
        assert agent.provider is not None
        print(f"LLM: {describe_provider(agent.provider)}", file=out)
        print(f"Temporal: {agent.where}", file=out)
        workflow_id = args.id or new_workflow_id("chat")
        handle = await start_agent(agent.client, value, workflow_id, settings)
        print(f"Workflow: {workflow_id}; {END_COMMANDS[0]} or end of input ends the chat.\n",
              file=out, flush=True)  # fmt: skip
        chat = Chat(handle, lines, out)
        progress = await chat.follow(lambda p: p.phase == "waiting for the user")
        while progress.status == AgentStatus.RUNNING:
            text = await read_line(lines, out, "you> ")
            if text is None or text.strip() in END_COMMANDS:
                print("", file=out)  # the prompt's line, left open
                await handle.signal(AgentWorkflow.end)
                break
            if text.strip():
                await chat.send(text)
            progress = await handle.query(AgentWorkflow.status)
        result = await handle.result()
    if args.json:
        print(to_json(result), file=out)
    else:
        print_result(result, out)
    return exit_code(result)
