"""Sub-agents: tool calls the workflow answers by running another AgentWorkflow as a child.

Why a child workflow, not an activity: the sub-agent's conversation is recorded in a history
of its own, and the parent's history holds only the child's start and its result (a result
without the transcript: AgentInput.agent_depth). The parent's history stays linear however
much the sub-agent talks.

Which calls are sub-agent calls is decided from recorded data only: the input's `agents`, or
`LLMTurn.agent_calls`, which the LLM activity fills from the worker's sub-agents. Histories
recorded before sub-agents have neither, and replay exactly as they ran.

Workflow code: deterministic, no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.converter import value_to_type
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

from agentic_loop.tools.agents import agent_problem, agent_task
from agentic_loop.types import (
    AgentInput,
    AgentResult,
    AgentStatus,
    LLMTurn,
    RunningAgent,
    SubAgent,
    ToolCall,
    ToolResult,
)
from agentic_loop.workflow.policies import goal_problem, refusal
from agentic_loop.workflow.state import ConversationState
from agentic_loop.workflow.visibility import AGENT_FAILED

# The child's workflow type: AgentWorkflow's recorded name (agent.py imports this module, so
# it cannot import the class).
AGENT_WORKFLOW = "AgentWorkflow"
# Sub-agents may call sub-agents, this many levels down: a worker's sub-agent offered every
# tool would otherwise be offered itself, without end.
MAX_AGENT_DEPTH = 3


def budget_reached(state: ConversationState, agent_input: AgentInput) -> AgentStatus | None:
    """The budget this run has spent (sub-agents' usage counts), or None."""
    budget = agent_input.max_total_tokens
    if budget is not None and state.usage.total_tokens >= budget:
        return AgentStatus.MAX_TOKENS
    dollars = agent_input.max_cost_usd
    if dollars is not None and state.cost_usd >= dollars:
        return AgentStatus.MAX_COST
    return None


def _within(own: float | None, left: float | None) -> float | None:
    if own is None:
        return left
    return own if left is None else min(own, left)


def child_input(
    agent: SubAgent, task: str, parent: AgentInput, state: ConversationState
) -> AgentInput:
    """The child's input: the sub-agent's own prompt, tools, model and limits, bounded by what
    is left of the parent's budgets; retries, timeouts and approvals as the parent's."""
    tokens_left = (
        None
        if parent.max_total_tokens is None
        else max(1, parent.max_total_tokens - state.usage.total_tokens)
    )
    dollars_left = None if parent.max_cost_usd is None else parent.max_cost_usd - state.cost_usd
    tokens = _within(agent.max_total_tokens, tokens_left)
    return AgentInput(
        goal=task,
        max_turns=agent.max_turns,
        model=agent.model,
        system_prompt=agent.system_prompt,
        tools=None if agent.tools is None else list(agent.tools),
        local_tools=list(parent.local_tools),
        inline_tools=list(parent.inline_tools),
        llm_retry=parent.llm_retry,
        llm_timeout_seconds=parent.llm_timeout_seconds,
        tool_retry=parent.tool_retry,
        tool_timeout_seconds=parent.tool_timeout_seconds,
        approval_required=list(parent.approval_required),
        approval_timeout_seconds=parent.approval_timeout_seconds,
        max_total_tokens=None if tokens is None else int(tokens),
        max_cost_usd=_within(agent.max_cost_usd, dollars_left),
        llm_providers=list(agent.llm_providers),
        agent_depth=parent.agent_depth + 1,
        tool_result_limit_bytes=parent.tool_result_limit_bytes,
    )


def _carried_result(error: ChildWorkflowError) -> AgentResult | None:
    """The AgentResult a failed sub-agent's failure carries (its usage counts too), if any."""
    cause = error.cause
    if not isinstance(cause, ApplicationError) or cause.type != AGENT_FAILED or not cause.details:
        return None
    detail = cause.details[0]
    if isinstance(detail, AgentResult):
        return detail
    try:
        result: AgentResult = value_to_type(AgentResult, detail, [])
    except Exception:  # a detail of another shape: the failure's message still says why
        return None
    return result


def _why(error: ChildWorkflowError) -> str:
    cause: BaseException | None = error.cause
    while isinstance(cause, ChildWorkflowError | ApplicationError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, CancelledError):
        return "it was cancelled"
    return str(cause) if cause is not None and str(cause) else str(error)


def answer_of(call: ToolCall, agent: SubAgent, result: AgentResult, child_id: str) -> ToolResult:
    """The call's result for the parent's model: the answer, or why there is none."""
    if result.status == AgentStatus.COMPLETED:
        return ToolResult(call.id, call.name, result.answer, agent_workflow_id=child_id)
    reason = result.error or result.answer or "without an answer"
    content = f"the sub-agent {agent.name} ended {result.status.value}: {reason}"
    return ToolResult(call.id, call.name, content, is_error=True, agent_workflow_id=child_id)


class Children:
    """The sub-agents of one run: which calls are theirs, and those running now."""

    def __init__(self, agent_input: AgentInput) -> None:
        self._input = agent_input
        self._declared = {agent.name: agent for agent in agent_input.agents}
        self._running: dict[str, RunningAgent] = {}

    def agent_for(self, call: ToolCall, turn: LLMTurn) -> SubAgent | None:
        """The sub-agent a call names: the input's by name, else the worker's as the turn
        recorded it; None for a call of a tool."""
        return self._declared.get(call.name) or turn.agent_calls.get(call.id)

    def in_flight(self) -> list[RunningAgent]:
        return list(self._running.values())

    async def run(
        self, call: ToolCall, agent: SubAgent, child_id: str, state: ConversationState
    ) -> ToolResult:
        """Run the sub-agent on the call's task as a child workflow `child_id`; its answer,
        or an error result the model can act on. Its usage and cost count as this run's.
        If this run is cancelled meanwhile, the child is cancelled and waited for."""
        problem = agent_problem(agent)
        task = agent_task(call.arguments)
        if problem is None and task is None:
            problem = 'give the sub-agent its task as {"task": "..."}'
        if problem is None and task is not None:
            problem = goal_problem(task)
        if problem is None and self._input.agent_depth >= MAX_AGENT_DEPTH:
            problem = f"sub-agents may not nest more than {MAX_AGENT_DEPTH} levels deep"
        if problem is not None or task is None:
            return refusal(call, problem or "no task")
        try:
            handle = await workflow.start_child_workflow(
                AGENT_WORKFLOW,
                child_input(agent, task, self._input, state),
                id=child_id,
                result_type=AgentResult,
                execution_timeout=(
                    timedelta(seconds=agent.timeout_seconds) if agent.timeout_seconds else None
                ),
                # Cancelled, not terminated, when this run closes without cancelling it
                # (terminated, timed out): it then ends as a cancelled agent would.
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                static_summary=f"sub-agent {agent.name}",
            )
        except WorkflowAlreadyStartedError:
            return refusal(call, f"the sub-agent could not start: {child_id} is already running")
        self._running[call.id] = RunningAgent(call.id, agent.name, child_id)
        workflow.logger.info(
            "step %d: sub-agent %s started as %s",
            state.turns,
            agent.name,
            child_id,
            extra={"step": state.turns, "tool": call.name},
        )
        try:
            result = await self._result(handle)
        except ChildWorkflowError as e:
            carried = _carried_result(e)
            if carried is None:
                return ToolResult(
                    call.id,
                    call.name,
                    f"the sub-agent {agent.name} failed: {_why(e)}",
                    is_error=True,
                    agent_workflow_id=child_id,
                )
            result = carried
        finally:
            del self._running[call.id]
        state.usage = state.usage + result.usage
        state.cost_usd += result.cost_usd
        return answer_of(call, agent, result, child_id)

    async def _result(
        self, handle: workflow.ChildWorkflowHandle[object, AgentResult]
    ) -> AgentResult:
        # Shielded, so this run's cancellation reaches us rather than being absorbed by the
        # SDK's wait for the child (which only passes it on): we cancel the child, wait until
        # it has ended, and go on cancelling.
        try:
            return await asyncio.shield(handle)
        except asyncio.CancelledError:
            handle.cancel()
            with contextlib.suppress(ChildWorkflowError):
                await handle
            raise
