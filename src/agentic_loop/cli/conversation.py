"""One-off commands on a running agent: status, send, approve, reject, end, cancel,
transcript."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agentic_loop.cli.common import (
    QUERY_SECONDS,
    CLIError,
    Handle,
    connect,
    described_handle,
    existing_handle,
    fail,
    is_running,
    run_state,
)
from agentic_loop.cli.output import plural, to_json
from agentic_loop.config import Settings
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import (
    AgentProgress,
    AgentStatus,
    ApprovalRequest,
    Message,
    Reply,
    RunningAgent,
    TranscriptPage,
    TranscriptRequest,
    UserMessage,
)
from agentic_loop.workflow import AgentWorkflow

_UNANSWERED = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)


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
    running = progress.status == AgentStatus.RUNNING
    lines = [
        f"status: {progress.status.value} ({progress.phase})",
        f"requests: {progress.requests}, LLM turns: {progress.turns}, "
        f"tool calls: {progress.tool_calls}, transcript: {progress.transcript_length} messages",
        f"tokens: {progress.usage.total_tokens}"
        + (
            f" ({progress.tokens_left} left)"
            if running and progress.tokens_left is not None
            else ""
        ),
    ]
    if running:  # a finished run has no request left to spend turns on
        lines.append(f"turns left for this request: {progress.turns_left}")
    children = {agent.call_id: agent for agent in progress.agents_running}
    for call in progress.pending_tool_calls:
        waiting = any(c.id == call.id for c in progress.awaiting_approval)
        mark = "waiting for approval" if waiting else "running"
        child = children.get(call.id)
        if child is not None:
            mark = f"sub-agent running as {child.workflow_id}"
        lines.append(f"  {call.id}: {call.name}({call.arguments}) [{mark}]")
    if children:
        lines.append("  (`agentic-loop transcript ID --child CALL_ID` shows a sub-agent's)")
    return "\n".join(lines)


async def _workers_polling(client: Client, task_queue: str, settings: Settings) -> int:
    """How many workers polled the task queue for workflow tasks lately (the server forgets
    a poller a few minutes after its last poll)."""
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(answer.pollers)


async def _ask(
    handle: Handle, query: Any, *query_args: Any, pollers: int, result_type: Any = None
) -> Any | None:
    """The query's answer, or None when no worker answers it within QUERY_SECONDS (without
    a poller it is not asked at all): a query is answered by a worker replaying the run."""
    if pollers == 0:
        return None
    try:
        return await _call(
            handle.query(
                query,
                *query_args,
                result_type=result_type,
                rpc_timeout=timedelta(seconds=QUERY_SECONDS),
            ),
            handle.id,
        )
    except RPCError as e:
        if e.status in _UNANSWERED:
            return None
        raise


def _no_answer(description: WorkflowExecutionDescription, pollers: int) -> str:
    """Why the run's own state is not available, and what to do about it."""
    queue = description.task_queue
    if pollers == 0:
        return (
            f"no worker polls its task queue {queue!r}: start one with "
            f"`AGENTIC_LOOP_TASK_QUEUE={queue} agentic-loop worker`"
        )
    return (
        f"{plural(pollers, 'worker')} poll its task queue {queue!r}, but none answered "
        f"within {QUERY_SECONDS:g} s (busy, or without this workflow's code)"
    )


def _server_status(description: WorkflowExecutionDescription, pollers: int) -> dict[str, Any]:
    """What the server alone knows of a run, for when no worker answers."""
    pending = description.raw_description.pending_workflow_task
    waiting_since = None
    if description.raw_description.HasField("pending_workflow_task"):
        waiting_since = pending.original_scheduled_time.ToDatetime().isoformat() + "Z"
    return {
        "workflow_id": description.id,
        "run_state": run_state(description),
        "task_queue": description.task_queue,
        "workers_polling": pollers,
        "workflow_task_waiting_since": waiting_since,
        "history_length": description.history_length,
        "why_no_details": _no_answer(description, pollers),
    }


def _describe_server_status(known: dict[str, Any]) -> str:
    lines = [
        f"status: {known['run_state']} (as the server has it; {known['why_no_details']})",
        f"task queue: {known['task_queue']}, history: {known['history_length']} events",
    ]
    if known["workflow_task_waiting_since"]:
        lines.append(
            f"a workflow task waits for a worker since {known['workflow_task_waiting_since']}"
        )
    return "\n".join(lines)


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings, client_only=True)
    handle, description = await described_handle(client, args.workflow_id, settings)
    pollers = await _workers_polling(client, description.task_queue, settings)
    progress: AgentProgress | None = await _ask(handle, AgentWorkflow.status, pollers=pollers)
    if progress is None:
        known = _server_status(description, pollers)
        print(to_json(known) if args.json else _describe_server_status(known))
    else:
        print(to_json(progress) if args.json else _describe_status(progress))
    return 0


async def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings, client_only=True)
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
    client = await connect(settings, client_only=True)
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
    client = await connect(settings, client_only=True)
    handle = await existing_handle(client, args.workflow_id, settings)
    await _call(handle.signal(AgentWorkflow.end), args.workflow_id)
    print(to_json({"ended": args.workflow_id}) if args.json else f"ending {args.workflow_id}")
    return 0


async def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings, client_only=True)
    handle, description = await described_handle(client, args.workflow_id, settings)
    if not is_running(description):
        # The server accepts a cancel of a closed run and does nothing with it.
        fail(
            f"workflow {args.workflow_id!r} has ended ({run_state(description)}): nothing to cancel"
        )
    await _call(handle.cancel(), args.workflow_id)
    text = f"cancel requested for {args.workflow_id}"
    print(to_json({"cancelled": args.workflow_id}) if args.json else text)
    return 0


async def _child_of(client: Client, args: argparse.Namespace, settings: Settings) -> str:
    """The workflow id of the sub-agent that answered (or is answering) call `args.child` of
    workflow `args.workflow_id`: from the parent's transcript, else its status."""
    handle, description = await described_handle(client, args.workflow_id, settings)
    messages: list[Message] = await _call(
        read_transcript(client, args.workflow_id), args.workflow_id
    )
    for message in messages:
        if message.tool_call_id == args.child and message.agent_workflow_id:
            return message.agent_workflow_id
    pollers = await _workers_polling(client, description.task_queue, settings)
    progress: AgentProgress | None = await _ask(handle, AgentWorkflow.status, pollers=pollers)
    running: list[RunningAgent] = progress.agents_running if progress is not None else []
    for agent in running:
        if agent.call_id == args.child:
            return agent.workflow_id
    calls = [c.id for m in messages for c in m.tool_calls]
    if args.child in calls:
        fail(f"call {args.child!r} of {args.workflow_id!r} was not answered by a sub-agent")
    fail(f"workflow {args.workflow_id!r} has no tool call {args.child!r}")


async def cmd_transcript(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings, client_only=True)
    if getattr(args, "child", None) is not None:
        args.workflow_id = await _child_of(client, args, settings)
    handle, description = await described_handle(client, args.workflow_id, settings)
    pollers = await _workers_polling(client, description.task_queue, settings)
    head: TranscriptPage | None = await _ask(
        handle,
        "transcript",
        TranscriptRequest(start=0, end=0),
        pollers=pollers,
        result_type=TranscriptPage,
    )
    if head is None:
        fail(
            f"cannot read the transcript of {args.workflow_id!r} "
            f"({run_state(description)}): {_no_answer(description, pollers)}"
        )
    # Negative bounds count from the end, as in a Python slice: --from -3 is the last three.
    start, end = slice(args.start, args.end).indices(head.total)[:2]
    messages = await _call(
        read_transcript(client, args.workflow_id, start, max(start, end)), args.workflow_id
    )
    for index, message in enumerate(messages, start=start):
        if args.json:
            print(to_json({"index": index, **dataclasses.asdict(message)}))
        else:
            calls = "".join(f" -> {c.name}({c.arguments})" for c in message.tool_calls)
            child = f" (sub-agent {message.agent_workflow_id})" if message.agent_workflow_id else ""
            print(f"{index:>5} {message.role:<9} {message.content}{calls}{child}")
    return 0
