"""What the workflow tells the outside about a conversation: the `status` query's answer
and the run's result, both read off its state (workflow code: pure, deterministic)."""

from __future__ import annotations

from agentic_loop.types import (
    AgentInput,
    AgentProgress,
    AgentResult,
    AgentStatus,
    RunningAgent,
    ToolCall,
)
from agentic_loop.workflow.policies import RESULT_TRANSCRIPT_CHARS, newest_that_fit
from agentic_loop.workflow.state import ConversationState


def progress_of(
    state: ConversationState,
    agent_input: AgentInput,
    *,
    status: AgentStatus,
    phase: str,
    pending: list[ToolCall],
    awaiting: list[ToolCall],
    agents_running: list[RunningAgent] | None = None,
) -> AgentProgress:
    budget = agent_input.max_total_tokens
    dollars = agent_input.max_cost_usd
    return AgentProgress(
        status=status,
        phase=phase,
        turns=state.turns,
        tool_calls=state.tool_calls,
        usage=state.usage,
        transcript_length=state.total,
        chat=agent_input.chat,
        requests=state.requests,
        pending_tool_calls=pending,
        awaiting_approval=awaiting,
        turns_left=max(0, agent_input.max_turns - state.request_turns),
        tokens_left=None if budget is None else max(0, budget - state.usage.total_tokens),
        cost_usd=state.cost_usd,
        cost_left_usd=None if dollars is None else max(0.0, dollars - state.cost_usd),
        provider=state.provider,
        failovers=list(state.failovers),
        agents_running=list(agents_running or ()),
    )


def result_of(
    state: ConversationState,
    status: AgentStatus,
    answer: str,
    error: str | None,
    workflow_id: str,
    *,
    keep_transcript: bool = True,
) -> AgentResult:
    """The run's result, with the newest messages that fit (the whole conversation is the
    `transcript` query's to give). Without `keep_transcript` (a sub-agent's result, which its
    parent's history records) the answer alone."""
    kept = newest_that_fit(state.transcript, RESULT_TRANSCRIPT_CHARS) if keep_transcript else []
    return AgentResult(
        answer=answer,
        status=status,
        workflow_id=workflow_id,
        turns=state.turns,
        tool_calls=state.tool_calls,
        usage=state.usage,
        error=error,
        transcript_length=state.total,
        transcript=kept,
        transcript_start=state.total - len(kept),
        requests=state.requests,
        cost_usd=state.cost_usd,
        failovers=list(state.failovers),
    )
