"""AgentWorkflow: LLM call, then the tool calls it asked for, until it answers.

Workflow code is replayed from history on every worker that picks the run up, so everything
here is deterministic: no I/O, no clock, no randomness except through `workflow.*`. A change to
the sequence of activities must be gated with `workflow.patched()` (docs/versioning.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from agentic_loop.activities import LLMActivities, ToolActivities
    from agentic_loop.policies import (
        DEFAULT_SYSTEM_PROMPT,
        EMPTY_REPLY_NUDGE,
        MAX_EMPTY_REPLIES,
        MAX_GOAL_CHARS,
        MAX_MESSAGE_CHARS,
        RESULT_TRANSCRIPT_CHARS,
        failure_message,
        newest_that_fit,
        retry_policy,
        seconds,
        tool_summary,
    )
    from agentic_loop.transcript.keys import (
        assistant_message,
        llm_turn_key,
        message_checksum,
        tool_idempotency_key,
        tool_message,
        tool_result_key,
    )
    from agentic_loop.types import (
        AgentInput,
        AgentProgress,
        AgentResult,
        AgentStatus,
        ApprovalDecision,
        ApprovalRequest,
        CarriedState,
        LLMRequest,
        LLMTurn,
        Message,
        MessageRef,
        PendingRequest,
        Reply,
        ToolCall,
        ToolRequest,
        ToolResult,
        TranscriptPage,
        TranscriptRequest,
        Usage,
        UserMessage,
    )

WORKFLOW_NAME = "AgentWorkflow"

# Statuses after which a conversation keeps going (it is one request that ended so).
_REQUEST_ENDINGS = {
    AgentStatus.COMPLETED,
    AgentStatus.MAX_TURNS,
    AgentStatus.TRUNCATED,
    AgentStatus.REFUSED,
}


class _ContinueAsNew(Exception):
    """Raised at a turn boundary to leave the loop and continue as a new run."""


@workflow.defn(name=WORKFLOW_NAME)
class AgentWorkflow:
    @workflow.init
    def __init__(self, input: AgentInput) -> None:
        self._input = input
        carried = input.carried
        self._pending: dict[str, ToolCall] = {}
        self._awaiting: dict[str, ToolCall] = {}
        self._decisions: dict[str, ApprovalDecision] = {}
        self._replies: dict[int, Reply] = {}
        # Transcript messages (by global index) that an activity returned, with their cache
        # keys: the next LLM request refers to them instead of recording them again.
        self._produced: dict[int, str] = {}
        self._ended = False
        self._status = AgentStatus.RUNNING
        self._phase = "starting"
        if carried is None:
            self._conversation_id = workflow.info().first_execution_run_id
            self._previous_run_id: str | None = None
            self._base = 0
            self._transcript: list[Message] = [
                Message(role="system", content=input.system_prompt or DEFAULT_SYSTEM_PROMPT),
                Message(role="user", content=input.goal),
            ]
            # Messages (global count) already sent to the LLM activity: the next request
            # carries only the rest.
            self._sent = 0
            self._turns = 0
            self._request_turns = 0
            self._tool_calls = 0
            self._usage = Usage()
            self._requests = 1  # requests received; the goal is the first
            self._current = 1  # the request being worked on (or last worked on)
            self._answered = 0
            self._inbox: list[PendingRequest] = []
        else:
            self._conversation_id = carried.conversation_id
            self._previous_run_id = carried.previous_run_id
            self._base = carried.transcript_base
            self._transcript = list(carried.messages)
            self._sent = carried.sent
            self._turns = carried.turns
            self._request_turns = carried.request_turns
            self._tool_calls = carried.tool_calls
            self._usage = carried.usage
            self._requests = carried.requests
            self._current = carried.current
            self._answered = carried.answered
            self._inbox = list(carried.inbox)

    # ---- the loop ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        if input.carried is None:
            _check_goal(input.goal)
        try:
            return await self._converse()
        except _ContinueAsNew:
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(dataclasses.replace(input, carried=self._carry()))
        except asyncio.CancelledError:
            # Cancelling stops the call in flight (its activity is told at its next
            # heartbeat); the run ends with what it has, rather than as a bare cancellation.
            return self._finish(AgentStatus.CANCELLED, self._last_assistant_text())

    async def _converse(self) -> AgentResult:
        while True:
            if self._answered < self._current:
                status, answer, error = await self._work_on_request()
                self._answered = self._current
                self._replies[self._current] = Reply(self._current, status, answer)
                if not self._input.chat or status not in _REQUEST_ENDINGS:
                    return self._finish(status, answer, error)
            ending = await self._wait_for_user()
            if ending is not None:
                return self._finish(ending, self._last_assistant_text())

    async def _work_on_request(self) -> tuple[AgentStatus, str, str | None]:
        """LLM turns and tool calls until the current request is answered or a limit hit."""
        empty_replies = 0
        while self._request_turns < self._input.max_turns:
            self._maybe_continue_as_new()
            self._phase = "thinking"
            try:
                turn = await self._call_llm()
            except ActivityError as e:
                _raise_if_cancelled(e)
                return AgentStatus.FAILED, "", failure_message(e)
            self._append(
                assistant_message(turn),
                produced_as=llm_turn_key(self._conversation_id, self._turns),
            )
            if turn.refusal is not None:
                return AgentStatus.REFUSED, turn.refusal, None
            budget = self._input.max_total_tokens
            if budget is not None and self._usage.total_tokens >= budget:
                return AgentStatus.MAX_TOKENS, turn.content, None
            if turn.tool_calls:
                self._phase = "running tools"
                answered = {r.call_id: r for r in turn.tool_results}
                results = await asyncio.gather(
                    *(self._run_tool(c, answered.get(c.id)) for c in turn.tool_calls)
                )
                for result, produced_as in results:
                    self._append(tool_message(result), produced_as=produced_as)
                continue
            if turn.finish_reason == "length":
                return AgentStatus.TRUNCATED, turn.content, None
            if turn.finish_reason == "content_filter":
                return AgentStatus.REFUSED, turn.content, None
            if turn.content.strip():
                return AgentStatus.COMPLETED, turn.content, None
            empty_replies += 1
            if empty_replies > MAX_EMPTY_REPLIES:
                error = f"the LLM returned {empty_replies} empty replies in a row"
                return AgentStatus.FAILED, "", error
            self._transcript.append(Message(role="user", content=EMPTY_REPLY_NUDGE))
        return AgentStatus.MAX_TURNS, self._last_assistant_text(), None

    async def _wait_for_user(self) -> AgentStatus | None:
        """Between requests of a conversation: the next message, `end`, or the idle timeout."""
        if not self._inbox and not self._ended:
            self._maybe_continue_as_new()
        self._phase = "waiting for the user"
        try:
            await workflow.wait_condition(
                lambda: bool(self._inbox) or self._ended,
                timeout=timedelta(seconds=self._input.idle_timeout_seconds),
                timeout_summary="waiting for the user",
            )
        except TimeoutError:
            return AgentStatus.IDLE_TIMEOUT
        if self._ended and not self._inbox:
            return AgentStatus.ENDED
        request = self._inbox.pop(0)
        self._transcript.append(Message(role="user", content=request.text))
        self._current = request.number
        self._request_turns = 0
        return None

    def _maybe_continue_as_new(self) -> None:
        """At a turn boundary: nothing in flight, no approval open, no update half-done."""
        info = workflow.info()
        threshold = self._input.continue_as_new_after_events
        due = info.is_continue_as_new_suggested() or (
            threshold is not None and info.get_current_history_length() >= threshold
        )
        if due and not self._pending and workflow.all_handlers_finished():
            raise _ContinueAsNew

    def _carry(self) -> CarriedState:
        keep_from = self._sent  # what the LLM has seen stays behind in this run
        return CarriedState(
            conversation_id=self._conversation_id,
            previous_run_id=workflow.info().run_id,
            transcript_base=keep_from,
            messages=self._transcript[keep_from - self._base :],
            sent=self._sent,
            turns=self._turns,
            request_turns=self._request_turns,
            tool_calls=self._tool_calls,
            usage=self._usage,
            requests=self._requests,
            current=self._current,
            answered=self._answered,
            inbox=list(self._inbox),
        )

    # ---- activities ---------------------------------------------------------------------------

    async def _call_llm(self) -> LLMTurn:
        self._turns += 1
        self._request_turns += 1
        new_messages: list[Message] = []
        recorded: list[MessageRef] = []
        total = self._base + len(self._transcript)
        for index in range(self._sent, total):
            message = self._transcript[index - self._base]
            key = self._produced.pop(index, None)
            if key is None:
                new_messages.append(message)
            else:
                recorded.append(MessageRef(index - self._sent, key, message_checksum(message)))
        request = LLMRequest(
            turn=self._turns,
            history_length=self._sent,
            new_messages=new_messages,
            model=self._input.model,
            tools=self._input.tools,
            conversation_id=self._conversation_id,
            recorded=recorded,
            inline_tools=[t for t in self._input.inline_tools if self._inline(t)],
        )
        self._sent = total
        settings = self._input.llm_retry
        model = f" ({self._input.model})" if self._input.model else ""
        turn = await workflow.execute_activity_method(
            LLMActivities.call_llm,
            request,
            start_to_close_timeout=timedelta(seconds=self._input.llm_timeout_seconds),
            schedule_to_close_timeout=seconds(settings.schedule_to_close_seconds),
            # Short enough that a cancelled workflow reaches the call in seconds.
            heartbeat_timeout=timedelta(seconds=min(10.0, self._input.llm_timeout_seconds)),
            retry_policy=retry_policy(settings),
            summary=f"LLM turn {self._turns}{model}",
        )
        self._usage = self._usage + turn.usage
        return turn

    def _inline(self, tool: str) -> bool:
        """Whether the LLM activity may run this tool's calls itself: a call that needs
        approval never runs before the decision."""
        return tool in self._input.inline_tools and tool not in self._input.approval_required

    async def _run_tool(
        self, call: ToolCall, answered: ToolResult | None
    ) -> tuple[ToolResult, str | None]:
        """The call's result, and its cache key when an activity produced it (`answered`:
        the result the LLM activity returned for an inline tool, if it did)."""
        self._tool_calls += 1
        key = tool_idempotency_key(workflow.info().workflow_id, self._turns, call.id)
        if answered is not None and answered.name == call.name and self._inline(call.name):
            # An inline tool: the LLM activity ran it and returned its result with the turn.
            workflow.logger.info(
                "step %d: %s answered in the LLM activity",
                self._turns,
                call.name,
                extra={"step": self._turns, "tool": call.name},
            )
            return answered, tool_result_key(key)
        self._pending[call.id] = call
        try:
            if call.name in self._input.approval_required:
                decision = await self._await_decision(call)
                if not decision.approved:
                    return _refusal(call, f"the call was rejected: {decision.reason}"), None
            return await self._execute_tool(call, key)
        finally:
            del self._pending[call.id]

    async def _execute_tool(self, call: ToolCall, key: str) -> tuple[ToolResult, str | None]:
        request = ToolRequest(call=call, idempotency_key=key)
        settings = self._input.tool_retry
        timeout = timedelta(seconds=self._input.tool_timeout_seconds)
        try:
            if call.name in self._input.local_tools:
                result = await workflow.execute_local_activity_method(
                    ToolActivities.run_tool,
                    request,
                    start_to_close_timeout=timeout,
                    schedule_to_close_timeout=seconds(settings.schedule_to_close_seconds),
                    retry_policy=retry_policy(settings),
                    summary=tool_summary(call),
                )
            else:
                result = await workflow.execute_activity_method(
                    ToolActivities.run_tool,
                    request,
                    start_to_close_timeout=timeout,
                    schedule_to_close_timeout=seconds(settings.schedule_to_close_seconds),
                    # The activity heartbeats while the tool runs: a worker that died in the
                    # middle of a long tool is noticed in seconds, not after the whole timeout.
                    heartbeat_timeout=timedelta(
                        seconds=min(10.0, self._input.tool_timeout_seconds)
                    ),
                    retry_policy=retry_policy(settings),
                    summary=tool_summary(call),
                )
        except ActivityError as e:
            _raise_if_cancelled(e)
            # The tool kept failing after its retries: tell the LLM, which may do without it.
            return _refusal(call, f"the tool is unavailable: {failure_message(e)}"), None
        return result, tool_result_key(key)

    async def _await_decision(self, call: ToolCall) -> ApprovalDecision:
        self._awaiting[call.id] = call
        self._phase = "waiting for approval"
        timeout = self._input.approval_timeout_seconds
        try:
            await workflow.wait_condition(
                lambda: call.id in self._decisions,
                timeout=timedelta(seconds=timeout),
                timeout_summary=f"approval of {tool_summary(call)}",
            )
            decision = self._decisions.pop(call.id)
        except TimeoutError:
            decision = ApprovalDecision(
                call_id=call.id,
                approved=False,
                reason=f"no decision within {timeout:g} s, so it counts as rejected",
                decided_by="timeout",
                at=workflow.now().isoformat(),
            )
        finally:
            self._awaiting.pop(call.id, None)
        verdict = "approved" if decision.approved else "rejected"
        reason = f": {decision.reason}" if decision.reason else ""
        self._transcript.append(
            Message(
                role="approval",
                content=f"{verdict} by {decision.decided_by}{reason}",
                tool_call_id=call.id,
                name=call.name,
                is_error=not decision.approved,
                at=decision.at,
            )
        )
        if not self._awaiting:
            self._phase = "running tools"
        return decision

    def _append(self, message: Message, *, produced_as: str | None) -> None:
        if produced_as is not None:
            self._produced[self._base + len(self._transcript)] = produced_as
        self._transcript.append(message)

    # ---- endings ------------------------------------------------------------------------------

    def _last_assistant_text(self) -> str:
        for message in reversed(self._transcript):
            if message.role == "assistant" and message.content.strip():
                return message.content
        return ""

    def _finish(self, status: AgentStatus, answer: str, error: str | None = None) -> AgentResult:
        self._status = status
        self._phase = "done"
        kept = newest_that_fit(self._transcript, RESULT_TRANSCRIPT_CHARS)
        return AgentResult(
            answer=answer,
            status=status,
            workflow_id=workflow.info().workflow_id,
            turns=self._turns,
            tool_calls=self._tool_calls,
            usage=self._usage,
            error=error,
            transcript_length=self._base + len(self._transcript),
            transcript=kept,
            transcript_start=self._base + len(self._transcript) - len(kept),
            requests=self._requests,
        )

    # ---- messages from outside --------------------------------------------------------------
    # Handler names are recorded in history and used by every client: they are given as
    # strings, so renaming a method cannot rename what a running workflow answers to.

    @workflow.update(name="send_message")
    async def send_message(self, message: UserMessage) -> Reply:
        self._requests += 1
        number = self._requests
        self._inbox.append(PendingRequest(number=number, text=message.text))
        if not message.wait_for_answer:
            return Reply(request=number, status=AgentStatus.RUNNING)
        await workflow.wait_condition(lambda: number in self._replies or self._is_done())
        return self._replies.get(number) or Reply(request=number, status=self._status)

    @send_message.validator
    def _check_message(self, message: UserMessage) -> None:
        if not self._input.chat:
            raise ValueError("this run is not a conversation: start it with chat=True")
        if self._is_done() or self._ended:
            raise ValueError("the conversation has ended")
        if not message.text.strip():
            raise ValueError("the message is empty")
        if len(message.text) > MAX_MESSAGE_CHARS:
            raise ValueError(
                f"the message has {len(message.text)} characters; the limit is {MAX_MESSAGE_CHARS}"
            )

    @workflow.signal(name="end")
    def end(self) -> None:
        """End the conversation once the request in progress (if any) is answered."""
        self._ended = True

    @workflow.update(name="approve")
    def approve(self, request: ApprovalRequest) -> list[str]:
        return self._decide(request, approved=True)

    @approve.validator
    def _check_approve(self, request: ApprovalRequest) -> None:
        self._check_decision(request)

    @workflow.update(name="reject")
    def reject(self, request: ApprovalRequest) -> list[str]:
        return self._decide(request, approved=False)

    @reject.validator
    def _check_reject(self, request: ApprovalRequest) -> None:
        self._check_decision(request)

    def _check_decision(self, request: ApprovalRequest) -> None:
        open_calls = [c for c in self._awaiting if c not in self._decisions]
        if not open_calls:
            raise ValueError("no tool call is waiting for approval")
        if request.call_id is not None and request.call_id not in open_calls:
            raise ValueError(
                f"tool call {request.call_id!r} is not waiting for approval; "
                f"waiting: {', '.join(open_calls)}"
            )

    def _decide(self, request: ApprovalRequest, *, approved: bool) -> list[str]:
        chosen = (
            [request.call_id]
            if request.call_id is not None
            else [c for c in self._awaiting if c not in self._decisions]
        )
        for call_id in chosen:
            self._decisions[call_id] = ApprovalDecision(
                call_id=call_id,
                approved=approved,
                reason=request.reason,
                decided_by="user",
                at=workflow.now().isoformat(),
            )
        return chosen

    def _is_done(self) -> bool:
        return self._status != AgentStatus.RUNNING

    # ---- queries ------------------------------------------------------------------------------

    @workflow.query(name="transcript")
    def transcript(self, request: TranscriptRequest) -> TranscriptPage:
        total = self._base + len(self._transcript)
        start = max(self._base, min(request.start, total))
        end = total if request.end is None else max(start, min(request.end, total))
        return TranscriptPage(
            messages=self._transcript[start - self._base : end - self._base],
            start=start,
            total=total,
            base=self._base,
            previous_run_id=self._previous_run_id,
        )

    @workflow.query(name="status")
    def status(self) -> AgentProgress:
        budget = self._input.max_total_tokens
        return AgentProgress(
            status=self._status,
            phase=self._phase,
            turns=self._turns,
            tool_calls=self._tool_calls,
            usage=self._usage,
            transcript_length=self._base + len(self._transcript),
            chat=self._input.chat,
            requests=self._requests,
            pending_tool_calls=list(self._pending.values()),
            awaiting_approval=list(self._awaiting.values()),
            turns_left=max(0, self._input.max_turns - self._request_turns),
            tokens_left=None if budget is None else max(0, budget - self._usage.total_tokens),
        )


def _refusal(call: ToolCall, reason: str) -> ToolResult:
    """An error result the workflow itself gives for a call (no activity produced it)."""
    return ToolResult(call_id=call.id, name=call.name, content=reason, is_error=True)


def _raise_if_cancelled(error: ActivityError) -> None:
    """An activity that failed because the workflow was cancelled is a cancellation, not a
    provider or tool failure."""
    if isinstance(error.cause, CancelledError):
        raise asyncio.CancelledError from error


def _check_goal(goal: str) -> None:
    if not goal.strip():
        raise ApplicationError("the goal is empty", type="BadInput", non_retryable=True)
    if len(goal) > MAX_GOAL_CHARS:
        raise ApplicationError(
            f"the goal has {len(goal)} characters; the limit is {MAX_GOAL_CHARS}",
            type="BadInput",
            non_retryable=True,
        )
