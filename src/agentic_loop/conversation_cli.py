"""The conversation commands: chat, status, send, approve, reject, end, cancel, transcript."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agentic_loop.cli_common import (
    POLL_SECONDS,
    CLIError,
    StepPrinter,
    _agent_input,
    _close,
    _describe_provider,
    _exit_code,
    _print_result,
    _result_json,
    connect,
    temporal_for_run,
)
from agentic_loop.config import Settings
from agentic_loop.llm import provider_from_settings
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import (
    AgentProgress,
    AgentResult,
    AgentStatus,
    ApprovalRequest,
    Reply,
    UserMessage,
)
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.policies import tool_summary

Handle = WorkflowHandle[Any, AgentResult]
END_COMMANDS = ("/end", "/quit", "/exit")


def _to_json(value: Any) -> str:
    return json.dumps(dataclasses.asdict(value), ensure_ascii=False, default=str)


async def _handle(client: Client, workflow_id: str, settings: Settings) -> Handle:
    """The workflow's handle, or a clear error when the server does not know the id."""
    handle = client.get_workflow_handle_for(AgentWorkflow.run, workflow_id)
    try:
        await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise CLIError(
                f"no workflow with id {workflow_id!r} in namespace {settings.namespace!r}"
            ) from None
        raise
    return handle


async def _call(action: Awaitable[Any], workflow_id: str) -> Any:
    """Turn the server's refusals into sentences: a validator's reason, or a closed run."""
    try:
        return await action
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        raise CLIError(cause.message if isinstance(cause, ApplicationError) else str(e)) from None
    except RPCError as e:
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise CLIError(f"workflow {workflow_id!r} has ended: {e.message}") from None
        raise


def _describe_status(progress: AgentProgress) -> str:
    lines = [
        f"status: {progress.status.value} ({progress.phase})",
        f"requests: {progress.requests}, LLM turns: {progress.turns}, "
        f"tool calls: {progress.tool_calls}, transcript: {progress.transcript_length} messages",
        f"tokens: {progress.usage.total_tokens}"
        + (f" ({progress.tokens_left} left)" if progress.tokens_left is not None else ""),
        f"turns left for this request: {progress.turns_left}",
    ]
    for call in progress.pending_tool_calls:
        waiting = any(c.id == call.id for c in progress.awaiting_approval)
        mark = "waiting for approval" if waiting else "running"
        lines.append(f"  {call.id}: {call.name}({call.arguments}) [{mark}]")
    return "\n".join(lines)


# ---- one-off commands on a running conversation -----------------------------------------------


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = await _handle(client, args.workflow_id, settings)
    progress: AgentProgress = await _call(handle.query(AgentWorkflow.status), args.workflow_id)
    print(_to_json(progress) if args.json else _describe_status(progress))
    return 0


async def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = await _handle(client, args.workflow_id, settings)
    message = UserMessage(text=args.message, wait_for_answer=not args.no_wait)
    reply: Reply = await _call(
        # By name: the SDK types a named async update method as returning a coroutine.
        handle.execute_update("send_message", message, result_type=Reply),
        args.workflow_id,
    )
    if args.json:
        print(_to_json(reply))
    elif reply.answer is not None:
        print(reply.answer)
    else:
        print(f"message {reply.request} accepted ({reply.status.value})")
    return 0


async def _decide(args: argparse.Namespace, settings: Settings, *, approved: bool) -> int:
    client = await connect(settings)
    handle = await _handle(client, args.workflow_id, settings)
    update = AgentWorkflow.approve if approved else AgentWorkflow.reject
    request = ApprovalRequest(call_id=args.call_id, reason=args.reason or "")
    decided: list[str] = await _call(handle.execute_update(update, request), args.workflow_id)
    verdict = "approved" if approved else "rejected"
    print(json.dumps({verdict: decided}) if args.json else f"{verdict}: {', '.join(decided)}")
    return 0


async def cmd_approve(args: argparse.Namespace, settings: Settings) -> int:
    return await _decide(args, settings, approved=True)


async def cmd_reject(args: argparse.Namespace, settings: Settings) -> int:
    return await _decide(args, settings, approved=False)


async def cmd_end(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = await _handle(client, args.workflow_id, settings)
    await _call(handle.signal(AgentWorkflow.end), args.workflow_id)
    print(json.dumps({"ended": args.workflow_id}) if args.json else f"ending {args.workflow_id}")
    return 0


async def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = await _handle(client, args.workflow_id, settings)
    await _call(handle.cancel(), args.workflow_id)
    text = f"cancel requested for {args.workflow_id}"
    print(json.dumps({"cancelled": args.workflow_id}) if args.json else text)
    return 0


async def cmd_transcript(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    await _handle(client, args.workflow_id, settings)
    messages = await _call(
        read_transcript(client, args.workflow_id, args.start, args.end), args.workflow_id
    )
    for index, message in enumerate(messages, start=args.start):
        if args.json:
            print(json.dumps({"index": index, **dataclasses.asdict(message)}, ensure_ascii=False))
        else:
            calls = "".join(f" -> {c.name}({c.arguments})" for c in message.tool_calls)
            print(f"{index:>5} {message.role:<9} {message.content}{calls}")
    return 0


# ---- the interactive chat ---------------------------------------------------------------------


async def read_line(lines: TextIO, out: TextIO, prompt: str) -> str | None:
    """One line from `lines` (None at end of input), without blocking the event loop."""
    print(prompt, end="", file=out, flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, lines.readline)
    return None if line == "" else line.rstrip("\n")


class Chat:
    """Drives a conversation from a terminal (or any stream of lines)."""

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
    chat_input = dataclasses.replace(_agent_input(args, settings), chat=True)
    provider = provider_from_settings(settings)
    print(f"LLM: {_describe_provider(provider)}", file=out)
    plugin = AgentLoopPlugin(settings, provider=provider)
    async with temporal_for_run(settings, args.db_filename, plugin) as (client, where):
        print(f"Temporal: {where}", file=out)
        worker = build_worker(client, task_queue=settings.task_queue)
        async with worker:
            workflow_id = args.id or f"chat-{uuid.uuid4().hex[:12]}"
            handle: Handle = await client.start_workflow(
                AgentWorkflow.run, chat_input, id=workflow_id, task_queue=settings.task_queue
            )
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
    await _close(provider)
    if args.json:
        print(_result_json(result), file=out)
    else:
        _print_result(result, out)
    return _exit_code(result)


# ---- wiring ---------------------------------------------------------------------------------


def add_commands(sub: Any, add_goal_options: Callable[[argparse.ArgumentParser], None]) -> None:
    chat = sub.add_parser("chat", help="talk with an agent: each line you type is a message")
    chat.add_argument("goal", nargs="?", default=None, help="the first message")
    add_goal_options(chat)
    chat.add_argument(
        "--db-filename", default=None, help="keep the embedded server's history in this SQLite file"
    )
    chat.set_defaults(handler=cmd_chat)

    def with_id(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        parser.add_argument("workflow_id")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=handler)
        return parser

    with_id("status", "show where a running agent stands", cmd_status)
    send = with_id("send", "send a message to a conversation and print the answer", cmd_send)
    send.add_argument("message")
    send.add_argument("--no-wait", action="store_true", help="return once it is accepted")
    for name, handler, verb in (
        ("approve", cmd_approve, "approve"),
        ("reject", cmd_reject, "reject"),
    ):
        decide = with_id(name, f"{verb} a tool call waiting for approval", handler)
        decide.add_argument(
            "call_id", nargs="?", default=None, help="the call (default: every call waiting)"
        )
        decide.add_argument("--reason", default="", help="why; the LLM is told")
    with_id("end", "end a conversation once its current request is answered", cmd_end)
    with_id("cancel", "cancel an agent now (the call in flight is stopped)", cmd_cancel)
    transcript = with_id("transcript", "print a conversation's messages", cmd_transcript)
    transcript.add_argument("--from", dest="start", type=int, default=0)
    transcript.add_argument("--to", dest="end", type=int, default=None)
