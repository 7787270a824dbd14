"""What the Temporal UI and `temporal workflow list` show of an agent.

Three things, each chosen so that an operator reads the story without opening a history:
- the `AgentStatus` search attribute (a Keyword): `running` while the conversation goes on, its
  ending (`completed`, `failed`, `max_turns`, `cancelled`, ...) once it is over, so
  `AgentStatus = "failed"` finds the agents that failed;
- the phase and step as the workflow's current details ("thinking, LLM turn 3 of 10");
- the execution's own status: an agent that failed fails its execution and a cancelled one
  ends cancelled (Completed means the agent ended as it should: answered, or out of turns,
  tokens or dollars, which `AgentStatus` tells apart). See docs/production.md.

The search attribute must be registered on the server (the embedded server and the compose
stack do it). The workflow only keeps it up to date when its run was started with it: the
starter, which can ask the server, decides, and that decision is recorded in the start event,
so replay follows it and runs started without it record exactly what they always did.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey

from agentic_loop.types import AgentStatus

AGENT_STATUS = SearchAttributeKey.for_keyword("AgentStatus")

# Recorded as a marker in the runs that end failed or cancelled as executions; runs recorded
# before it completed with the agent's status in their result, and still replay so.
OUTCOME_PATCH = "agent-outcome-is-execution-status"

# The type of the ApplicationError an agent's failure fails its execution with; its one
# detail is the AgentResult (agentic_loop.outcome turns it back into one).
AGENT_FAILED = "AgentFailed"


def keep_status(status: AgentStatus) -> None:
    """Set `AgentStatus`, if this run carries it."""
    if workflow.info().typed_search_attributes.get(AGENT_STATUS) is None:
        return
    workflow.upsert_search_attributes([AGENT_STATUS.value_set(status.value)])


def current_details(phase: str, turn: int, max_turns: int, tool_calls: int) -> str:
    """One line for the UI's "current details": what the agent does now, and how far it is."""
    parts = [phase]
    if turn:
        parts.append(f"LLM turn {turn} of {max_turns}")
    if tool_calls:
        parts.append(f"{tool_calls} tool call{'s' if tool_calls != 1 else ''} so far")
    return ", ".join(parts)
