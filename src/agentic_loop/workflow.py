"""AgentWorkflow: LLM call, then the tool calls it asked for, until it answers.

Workflow code is replayed from history on every worker that picks the run up, so everything
here is deterministic: no I/O, no clock, no randomness except through `workflow.*`. A change to
the sequence of activities must be gated with `workflow.patched()` (docs/versioning.md).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from agentic_loop.activities import LLMActivities, ToolActivities
    from agentic_loop.types import (
        AgentInput,
        AgentProgress,
        AgentResult,
        AgentStatus,
        LLMRequest,
        LLMTurn,
        Message,
        RetrySettings,
        ToolCall,
        ToolRequest,
        ToolResult,
        TranscriptPage,
        TranscriptRequest,
        Usage,
    )

WORKFLOW_NAME = "AgentWorkflow"
MAX_GOAL_CHARS = 32_000
# How many times an empty LLM reply is answered with a nudge before the run fails.
MAX_EMPTY_REPLIES = 2

DEFAULT_SYSTEM_PROMPT = (
    "You are an agent that reaches the user's goal step by step. Use the tools you are given "
    "when they help: the calculator for any arithmetic, web_search to look things up. When "
    "the goal is reached, answer without calling a tool, in the language of the user's goal."
)
EMPTY_REPLY_NUDGE = (
    "Your last reply was empty. Either call one of the tools or give your final answer."
)


def retry_policy(settings: RetrySettings) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=settings.initial_interval_seconds),
        backoff_coefficient=settings.backoff_coefficient,
        maximum_interval=timedelta(seconds=settings.maximum_interval_seconds),
        maximum_attempts=settings.maximum_attempts,
    )


def _seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None else None


def tool_summary(call: ToolCall, limit: int = 80) -> str:
    """What the Temporal UI shows for a tool activity, e.g. "calculator: 5 + 3"."""
    try:
        args = json.loads(call.arguments)
    except json.JSONDecodeError:
        args = call.arguments
    if isinstance(args, dict) and len(args) == 1:
        shown = str(next(iter(args.values())))
    elif isinstance(args, dict):
        shown = ", ".join(f"{k}={v}" for k, v in args.items())
    else:
        shown = str(args)
    text = f"{call.name}: {shown}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failure_message(error: ActivityError) -> str:
    cause = error.cause
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    return str(cause) if cause is not None else str(error)


@workflow.defn(name=WORKFLOW_NAME)
class AgentWorkflow:
    @workflow.init
    def __init__(self, input: AgentInput) -> None:
        self._input = input
        self._transcript: list[Message] = [
            Message(role="system", content=input.system_prompt or DEFAULT_SYSTEM_PROMPT),
            Message(role="user", content=input.goal),
        ]
        # Messages already sent to the LLM activity: the next request carries the rest only.
        self._sent = 0
        self._turns = 0
        self._tool_calls = 0
        self._usage = Usage()
        self._status = AgentStatus.RUNNING
        self._phase = "starting"

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        if not input.goal.strip():
            raise ApplicationError("the goal is empty", type="BadInput", non_retryable=True)
        if len(input.goal) > MAX_GOAL_CHARS:
            raise ApplicationError(
                f"the goal has {len(input.goal)} characters; the limit is {MAX_GOAL_CHARS}",
                type="BadInput",
                non_retryable=True,
            )
        empty_replies = 0
        while self._turns < input.max_turns:
            self._phase = "thinking"
            try:
                turn = await self._call_llm()
            except ActivityError as e:
                return self._finish(AgentStatus.FAILED, "", error=_failure_message(e))
            self._transcript.append(
                Message(role="assistant", content=turn.content, tool_calls=turn.tool_calls)
            )
            if turn.refusal is not None:
                return self._finish(AgentStatus.REFUSED, turn.refusal)
            if turn.tool_calls:
                self._phase = "running tools"
                results = await asyncio.gather(*(self._run_tool(c) for c in turn.tool_calls))
                self._transcript.extend(
                    Message(
                        role="tool",
                        content=r.content,
                        tool_call_id=r.call_id,
                        name=r.name,
                        is_error=r.is_error,
                    )
                    for r in results
                )
                continue
            if turn.finish_reason == "length":
                return self._finish(AgentStatus.TRUNCATED, turn.content)
            if turn.finish_reason == "content_filter":
                return self._finish(AgentStatus.REFUSED, turn.content)
            if turn.content.strip():
                return self._finish(AgentStatus.COMPLETED, turn.content)
            empty_replies += 1
            if empty_replies > MAX_EMPTY_REPLIES:
                return self._finish(
                    AgentStatus.FAILED,
                    "",
                    error=f"the LLM returned {empty_replies} empty replies in a row",
                )
            self._transcript.append(Message(role="user", content=EMPTY_REPLY_NUDGE))
        return self._finish(AgentStatus.MAX_TURNS, self._last_assistant_text())

    async def _call_llm(self) -> LLMTurn:
        self._turns += 1
        request = LLMRequest(
            turn=self._turns,
            history_length=self._sent,
            new_messages=self._transcript[self._sent :],
            model=self._input.model,
            tools=self._input.tools,
        )
        self._sent = len(self._transcript)
        settings = self._input.llm_retry
        turn = await workflow.execute_activity_method(
            LLMActivities.call_llm,
            request,
            start_to_close_timeout=timedelta(seconds=self._input.llm_timeout_seconds),
            schedule_to_close_timeout=_seconds(settings.schedule_to_close_seconds),
            heartbeat_timeout=timedelta(seconds=min(30.0, self._input.llm_timeout_seconds)),
            retry_policy=retry_policy(settings),
            summary=f"LLM turn {self._turns}"
            + (f" ({self._input.model})" if self._input.model else ""),
        )
        self._usage = self._usage + turn.usage
        return turn

    async def _run_tool(self, call: ToolCall) -> ToolResult:
        self._tool_calls += 1
        # Stable across retries, worker crashes and continue-as-new (the turn count carries).
        request = ToolRequest(
            call=call, idempotency_key=f"{workflow.info().workflow_id}/{self._turns}/{call.id}"
        )
        settings = self._input.tool_retry
        timeout = timedelta(seconds=self._input.tool_timeout_seconds)
        try:
            if call.name in self._input.local_tools:
                return await workflow.execute_local_activity_method(
                    ToolActivities.run_tool,
                    request,
                    start_to_close_timeout=timeout,
                    schedule_to_close_timeout=_seconds(settings.schedule_to_close_seconds),
                    retry_policy=retry_policy(settings),
                    summary=tool_summary(call),
                )
            return await workflow.execute_activity_method(
                ToolActivities.run_tool,
                request,
                start_to_close_timeout=timeout,
                schedule_to_close_timeout=_seconds(settings.schedule_to_close_seconds),
                retry_policy=retry_policy(settings),
                summary=tool_summary(call),
            )
        except ActivityError as e:
            # The tool kept failing after its retries: tell the LLM, which may do without it.
            return ToolResult(
                call_id=call.id,
                name=call.name,
                content=f"the tool is unavailable: {_failure_message(e)}",
                is_error=True,
            )

    def _last_assistant_text(self) -> str:
        for message in reversed(self._transcript):
            if message.role == "assistant" and message.content.strip():
                return message.content
        return ""

    def _finish(self, status: AgentStatus, answer: str, error: str | None = None) -> AgentResult:
        self._status = status
        self._phase = "done"
        return AgentResult(
            answer=answer,
            status=status,
            workflow_id=workflow.info().workflow_id,
            turns=self._turns,
            tool_calls=self._tool_calls,
            usage=self._usage,
            error=error,
            transcript_length=len(self._transcript),
        )

    @workflow.query
    def transcript(self, request: TranscriptRequest) -> TranscriptPage:
        total = len(self._transcript)
        start = max(0, min(request.start, total))
        end = total if request.end is None else max(start, min(request.end, total))
        return TranscriptPage(messages=self._transcript[start:end], start=start, total=total)

    @workflow.query
    def status(self) -> AgentProgress:
        return AgentProgress(
            status=self._status,
            phase=self._phase,
            turns=self._turns,
            tool_calls=self._tool_calls,
            usage=self._usage,
            transcript_length=len(self._transcript),
        )
