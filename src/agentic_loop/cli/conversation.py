"""One-off commands on a running agent: status, send, approve, reject, end, cancel,
transcript."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Awaitable
from typing import Any

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agentic_loop.cli.common import CLIError, connect, existing_handle, to_json
from agentic_loop.config import Settings
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import AgentProgress, ApprovalRequest, Reply, UserMessage
from agentic_loop.workflow import AgentWorkflow


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


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = await existing_handle(client, args.workflow_id, settings)
    progress: AgentProgress = await _call(handle.query(AgentWorkflow.status), args.workflow_id)
    print(to_json(progress) if args.json else _describe_status(progress))
    return 0


async def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = await existing_handle(client, args.workflow_id, settings)
    message = UserMessage(text=args.message, wait_for_answer=not args.no_wait)
    reply: Reply = await _call(
        # By name: the SDK types a named async update method as returning a coroutine.
        handle.execute_update("send_message", message, result_type=Reply),
        args.workflow_id,
    )
    if args.json:
        print(to_json(reply))
    elif reply.answer is not None:
        print(reply.answer)
    else:
        print(f"message {reply.request} accepted ({reply.status.value})")
    return 0


async def _decide(args: argparse.Namespace, settings: Settings, *, approved: bool) -> int:
    client = await connect(settings)
    handle = await existing_handle(client, args.workflow_id, settings)
    update = AgentWorkflow.approve if approved else AgentWorkflow.reject
    request = ApprovalRequest(call_id=args.call_id, reason=args.reason or "")
    decided: list[str] = await _call(handle.execute_update(update, request), args.workflow_id)
    verdict = "approved" if approved else "rejected"
    print(to_json({verdict: decided}) if args.json else f"{verdict}: {', '.join(decided)}")
    return 0


async def cmd_approve(args: argparse.Namespace, settings: Settings) -> int:
    return await _decide(args, settings, approved=True)


async def cmd_reject(args: argparse.Namespace, settings: Settings) -> int:
    return await _decide(args, settings, approved=False)


async def cmd_end(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = await existing_handle(client, args.workflow_id, settings)
    await _call(handle.signal(AgentWorkflow.end), args.workflow_id)
    print(to_json({"ended": args.workflow_id}) if args.json else f"ending {args.workflow_id}")
    return 0


async def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = await existing_handle(client, args.workflow_id, settings)
    await _call(handle.cancel(), args.workflow_id)
    text = f"cancel requested for {args.workflow_id}"
    print(to_json({"cancelled": args.workflow_id}) if args.json else text)
    return 0


async def cmd_transcript(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    await existing_handle(client, args.workflow_id, settings)
    messages = await _call(
        read_transcript(client, args.workflow_id, args.start, args.end), args.workflow_id
    )
    for index, message in enumerate(messages, start=args.start):
        if args.json:
            print(to_json({"index": index, **dataclasses.asdict(message)}))
        else:
            calls = "".join(f" -> {c.name}({c.arguments})" for c in message.tool_calls)
            print(f"{index:>5} {message.role:<9} {message.content}{calls}")
    return 0
