"""AgentWorkflow: LLM call, then the tool calls it asked for, until it answers.

Workflow code is replayed from history on every worker that picks the run up, so everything
here is deterministic: no I/O, no clock, no randomness except through `workflow.*`. A change to
the sequence of activities must be gated with `workflow.patched()` (docs/versioning.md).
The conversation's parts live beside this module (state, inbox, approvals, activity options);
the handlers here only delegate to them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from agentic_loop.activities import LLMActivities, ToolActivities
    from agentic_loop.transcript.keys import (
        assistant_message,
        llm_turn_key,
        tool_idempotency_key,
        tool_message,
        tool_result_key,
    )
    from agentic_loop.types import (
        AgentInput,
        AgentProgress,
        AgentResult,
        AgentStatus,
        ApprovalRequest,
        LLMRequest,
        LLMTurn,
        Message,
        Reply,
        ToolCall,
        ToolRequest,
        ToolResult,
        ToolSpec,
        TranscriptPage,
        TranscriptRequest,
        UserMessage,
    )
    from agentic_loop.workflow.affinity import follow, on_worker
    from agentic_loop.workflow.approvals import Approvals, audit_entry, rejection
    from agentic_loop.workflow.children import Children, budget_reached
    from agentic_loop.workflow.failover import fail_over
    from agentic_loop.workflow.inbox import Inbox
    from agentic_loop.workflow.options import llm_options, tool_options
    from agentic_loop.workflow.policies import (
        DEFAULT_SYSTEM_PROMPT,
        EMPTY_REPLY_NUDGE,
        MAX_EMPTY_REPLIES,
        failure_message,
        goal_problem,
        refusal,
        tool_summary,
    )
    from agentic_loop.workflow.reports import progress_of, result_of
    from agentic_loop.workflow.state import ConversationState, should_continue_as_new
    from agentic_loop.workflow.visibility import (
        AGENT_FAILED,
        OUTCOME_PATCH,
        current_details,
        keep_status,
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
        if input.carried is None:
            self._state = ConversationState.start(
                workflow.info().first_execution_run_id,
                input.system_prompt or DEFAULT_SYSTEM_PROMPT,
                input.goal,
            )
        else:
            self._state = ConversationState.resume(input.carried)
        self._inbox = Inbox(self._state)
        self._approvals = Approvals()
        self._children = Children(input)
        # Tool calls of the current turn that have not finished (approvals included).
        self._pending: dict[str, ToolCall] = {}
        # Transcript messages (by global index) that an activity returned, with their cache
        # keys: the next LLM request refers to them instead of recording them again.
        self._produced: dict[int, str] = {}
        self._status = AgentStatus.RUNNING
        self._phase_now = ""
        self._phase = "starting"

    @property
    def _phase(self) -> str:
        return self._phase_now

    @_phase.setter
    def _phase(self, phase: str) -> None:
        # What the UI shows as the run's current details; not recorded in history.
        self._phase_now = phase
        self._show_progress()

    def _show_progress(self) -> None:
        state = self._state
        workflow.set_current_details(
            current_details(
                self._phase_now, state.request_turns, self._input.max_turns, state.tool_calls
            )
        )

    # ---- the loop ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        if input.carried is None:
            problem = goal_problem(input.goal)
            if problem is not None:
                raise ApplicationError(problem, type="BadInput", non_retryable=True)
        try:
            result = await self._converse()
        except _ContinueAsNew:
            await workflow.wait_condition(workflow.all_handlers_finished)
            carried = self._state.carry(workflow.info().run_id)
            workflow.continue_as_new(dataclasses.replace(input, carried=carried))
        except asyncio.CancelledError:
            # Cancelling stops the call in flight (its activity is told at its next
            # heartbeat). The execution ends cancelled, as the operator asked; its state
            # still answers queries. Runs recorded before returned a result instead.
            result = self._finish(AgentStatus.CANCELLED, self._last_assistant_text())
            if workflow.patched(OUTCOME_PATCH):
                raise
            return result
        if result.status == AgentStatus.FAILED and workflow.patched(OUTCOME_PATCH):
            # A failed agent fails its execution (the UI, metrics and alerts see it), and
            # carries its result as the failure's detail: nothing of it is lost.
            raise ApplicationError(
                result.error or "the agent failed",
                result,
                type=AGENT_FAILED,
                non_retryable=True,
            )
        return result

    async def _converse(self) -> AgentResult:
        state = self._state
        while True:
            if state.answered < state.current:
                status, answer, error = await self._work_on_request()
                state.answered = state.current
                self._inbox.answer(state.current, status, answer)
                if not self._input.chat or status not in _REQUEST_ENDINGS:
                    return self._finish(status, answer, error)
            ending = await self._wait_for_user()
            if ending is not None:
                return self._finish(ending, self._last_assistant_text())

    async def _work_on_request(self) -> tuple[AgentStatus, str, str | None]:
        """LLM turns and tool calls until the current request is answered or a limit hit."""
        empty_replies = 0
        while self._state.request_turns < self._input.max_turns:
            self._maybe_continue_as_new()
            self._phase = "thinking"
            try:
                turn = await self._call_llm()
            except ActivityError as e:
                _raise_if_cancelled(e)
                return AgentStatus.FAILED, "", failure_message(e)
            self._append(
                assistant_message(turn),
                produced_as=llm_turn_key(self._state.conversation_id, self._state.turns),
            )
            if turn.refusal is not None:
                return AgentStatus.REFUSED, turn.refusal, None
            budget = self._input.max_total_tokens
            if budget is not None and self._state.usage.total_tokens >= budget:
                return AgentStatus.MAX_TOKENS, turn.content, None
            dollars = self._input.max_cost_usd
            if dollars is not None and self._state.cost_usd >= dollars:
                return AgentStatus.MAX_COST, turn.content, None
            if turn.tool_calls:
                self._phase = "running tools"
                results = await asyncio.gather(*(self._run_tool(c, turn) for c in turn.tool_calls))
                for result, produced_as in results:
                    self._append(tool_message(result), produced_as=produced_as)
                # Sub-agents spend from this run's budgets: once one is spent, no more turns.
                # (Without sub-agents, usage only grows in an LLM turn, checked above.)
                spent = budget_reached(self._state, self._input)
                if spent is not None:
                    return spent, self._last_assistant_text(), None
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
            self._state.transcript.append(Message(role="user", content=EMPTY_REPLY_NUDGE))
        return AgentStatus.MAX_TURNS, self._last_assistant_text(), None

    async def _wait_for_user(self) -> AgentStatus | None:
        """Between requests of a conversation: the next message, `end`, or the idle timeout."""
        if not self._state.inbox and not self._inbox.ended:
            self._maybe_continue_as_new()
        self._phase = "waiting for the user"
        try:
            request = await self._inbox.next_message(self._input.idle_timeout_seconds)
        except TimeoutError:
            return AgentStatus.IDLE_TIMEOUT
        if request is None:
            return AgentStatus.ENDED
        self._state.transcript.append(Message(role="user", content=request.text))
        self._state.current = request.number
        self._state.request_turns = 0
        return None

    def _maybe_continue_as_new(self) -> None:
        """At a turn boundary: nothing in flight, no approval open, no update half-done."""
        info = workflow.info()
        if should_continue_as_new(
            suggested=info.is_continue_as_new_suggested(),
            history_length=info.get_current_history_length(),
            threshold=self._input.continue_as_new_after_events,
            busy=bool(self._pending) or not workflow.all_handlers_finished(),
        ):
            raise _ContinueAsNew

    # ---- activities ---------------------------------------------------------------------------

    async def _call_llm(self) -> LLMTurn:
        state = self._state
        state.turns += 1
        state.request_turns += 1
        self._show_progress()
        new_messages, recorded = state.unsent(self._produced)
        request = LLMRequest(
            turn=state.turns,
            history_length=state.sent,
            new_messages=new_messages,
            # The input's model is the first provider's; after a failover, the provider's own.
            model=self._input.model if state.provider is None else None,
            tools=self._input.tools,
            conversation_id=state.conversation_id,
            recorded=recorded,
            inline_tools=[t for t in self._input.inline_tools if self._inline(t)],
            catalog_key=state.catalog_key,
            tool_result_limit_bytes=self._input.tool_result_limit_bytes,
        )
        request.provider, request.next_provider = self._providers()
        state.sent = state.total
        while True:
            shown = request.model or request.provider
            summary = f"LLM turn {state.turns}" + (f" ({shown})" if shown else "")
            try:
                turn: LLMTurn = await on_worker(
                    state,
                    self._input,
                    functools.partial(
                        workflow.execute_activity_method,
                        LLMActivities.call_llm,
                        request,
                        **llm_options(self._input).regular(),
                        summary=summary,
                    ),
                    f"LLM turn {state.turns}",
                )
                break
            except ActivityError as e:
                _raise_if_cancelled(e)
                if not self._fail_over(e):
                    raise
                provider, next_provider = self._providers()
                request = dataclasses.replace(
                    request, model=None, provider=provider, next_provider=next_provider
                )
        state.usage = state.usage + turn.usage
        state.cost_usd += turn.cost_usd
        state.adopt_catalog(turn.tool_catalog)
        follow(state, turn)
        return turn

    def _providers(self) -> tuple[str | None, str | None]:
        """Which provider the next call asks for, and (when the input orders them) which one
        it would move to: the current one after failovers, else the input's first."""
        order = self._input.llm_providers
        current = self._state.provider or (order[0] if order else None)
        if current not in order:
            return current, None
        following = order[order.index(current) + 1 :]
        return current, following[0] if following else None

    def _fail_over(self, error: ActivityError) -> bool:
        moved = fail_over(self._state, error)
        if moved is not None:
            workflow.logger.warning(
                "step %d: %s failed for good, failing over to %s",
                moved.turn,
                moved.from_provider,
                moved.to_provider,
                extra={"step": moved.turn},
            )
        return moved is not None

    def _inline(self, tool: str) -> bool:
        """Whether the LLM activity may run this tool's calls itself: a call that needs
        approval never runs before the decision."""
        return tool in self._input.inline_tools and tool not in self._input.approval_required

    async def _run_tool(self, call: ToolCall, turn: LLMTurn) -> tuple[ToolResult, str | None]:
        """The call's result, and its cache key when an activity produced it. The turn says
        what the worker's tools say of the call (approval, time limit) and holds its result
        if the LLM activity ran it inline."""
        state = self._state
        state.tool_calls += 1
        key = tool_idempotency_key(workflow.info().workflow_id, state.turns, call.id)
        needs_approval = (
            call.name in self._input.approval_required or call.id in turn.approval_calls
        )
        answered = next((r for r in turn.tool_results if r.call_id == call.id), None)
        inline = answered is not None and answered.name == call.name and self._inline(call.name)
        if answered is not None and inline and not needs_approval:
            # An inline tool: the LLM activity ran it and returned its result with the turn.
            workflow.logger.info(
                "step %d: %s answered in the LLM activity",
                state.turns,
                call.name,
                extra={"step": state.turns, "tool": call.name},
            )
            return answered, tool_result_key(key)
        self._pending[call.id] = call
        try:
            if needs_approval:
                self._phase = "waiting for approval"
                decision = await self._approvals.wait_for(
                    call, self._input.approval_timeout_seconds
                )
                self._state.transcript.append(audit_entry(call, decision))
                if not self._approvals.awaiting:
                    self._phase = "running tools"
                if not decision.approved:
                    return refusal(call, rejection(decision)), None
            agent = self._children.agent_for(call, turn)
            if agent is not None:
                # A sub-agent: a child workflow whose id is the call's idempotency key.
                return await self._children.run(call, agent, key, state), None
            return await self._execute_tool(call, key, turn.call_timeouts.get(call.id))
        finally:
            del self._pending[call.id]

    async def _execute_tool(
        self, call: ToolCall, key: str, timeout_seconds: float | None
    ) -> tuple[ToolResult, str | None]:
        request = ToolRequest(call=call, idempotency_key=key)
        options = tool_options(self._input, timeout_seconds)
        result: ToolResult
        try:
            if call.name in self._input.local_tools:
                result = await workflow.execute_local_activity_method(
                    ToolActivities.run_tool, request, **options.local(), summary=tool_summary(call)
                )
            else:
                # The activity heartbeats while the tool runs: a worker that died in the
                # middle of a long tool is noticed in seconds, not after the whole timeout.
                result = await on_worker(
                    self._state,
                    self._input,
                    functools.partial(
                        workflow.execute_activity_method,
                        ToolActivities.run_tool,
                        request,
                        **options.regular(),
                        summary=tool_summary(call),
                    ),
                    f"tool call {call.name}",
                )
        except ActivityError as e:
            _raise_if_cancelled(e)
            # The tool kept failing after its retries: tell the LLM, which may do without it.
            return refusal(call, f"the tool is unavailable: {failure_message(e)}"), None
        return result, tool_result_key(key)

    def _append(self, message: Message, *, produced_as: str | None) -> None:
        if produced_as is not None:
            self._produced[self._state.total] = produced_as
        self._state.transcript.append(message)

    # ---- endings ------------------------------------------------------------------------------

    def _last_assistant_text(self) -> str:
        for message in reversed(self._state.transcript):
            if message.role == "assistant" and message.content.strip():
                return message.content
        return ""

    def _finish(self, status: AgentStatus, answer: str, error: str | None = None) -> AgentResult:
        self._status = status
        self._phase = "done"
        keep_status(status)
        return result_of(
            self._state,
            status,
            answer,
            error,
            workflow.info().workflow_id,
            keep_transcript=self._input.agent_depth == 0,
        )

    # ---- messages from outside --------------------------------------------------------------
    # Handler names are recorded in history and used by every client: they are given as
    # strings, so renaming a method cannot rename what a running workflow answers to.

    @workflow.update(name="send_message")
    async def send_message(self, message: UserMessage) -> Reply:
        number = self._inbox.post(message.text)
        if not message.wait_for_answer:
            return Reply(request=number, status=AgentStatus.RUNNING)
        return await self._inbox.reply_to(number, lambda: self._status)

    @send_message.validator
    def _check_message(self, message: UserMessage) -> None:
        self._inbox.check(message, chat=self._input.chat, closed=self._is_done())

    @workflow.signal(name="end")
    def end(self) -> None:
        """End the conversation once the request in progress (if any) is answered."""
        self._inbox.ended = True

    @workflow.update(name="approve")
    def approve(self, request: ApprovalRequest) -> list[str]:
        return self._approvals.decide(request, approved=True)

    @approve.validator
    def _check_approve(self, request: ApprovalRequest) -> None:
        self._approvals.check(request)

    @workflow.update(name="reject")
    def reject(self, request: ApprovalRequest) -> list[str]:
        return self._approvals.decide(request, approved=False)

    @reject.validator
    def _check_reject(self, request: ApprovalRequest) -> None:
        self._approvals.check(request)

    def _is_done(self) -> bool:
        return self._status != AgentStatus.RUNNING

    # ---- queries ------------------------------------------------------------------------------

    @workflow.query(name="transcript")
    def transcript(self, request: TranscriptRequest) -> TranscriptPage:
        return self._state.page(request.start, request.end)

    @workflow.query(name="tool_catalog")
    def tool_catalog(self) -> list[ToolSpec]:
        """The run's recorded tools from outside the program, for a worker without them in
        its cache (tools/catalog.py)."""
        return self._state.tool_catalog

    @workflow.query(name="status")
    def status(self) -> AgentProgress:
        return progress_of(
            self._state,
            self._input,
            status=self._status,
            phase=self._phase,
            pending=list(self._pending.values()),
            awaiting=list(self._approvals.awaiting.values()),
            agents_running=self._children.in_flight(),
        )


def _raise_if_cancelled(error: ActivityError) -> None:
    """An activity that failed because the workflow was cancelled is a cancellation, not a
    provider or tool failure."""
    if isinstance(error.cause, CancelledError):
        raise asyncio.CancelledError from error
