"""Moving a conversation to the next provider, from what a failed call recorded.

Workflow code (deterministic): the worker's chain says who is next (llm/failover.py) in the
failure it records; the run follows that record, keeps the move in its state (so it crosses
continue-as-new and shows in status and result) and leaves an audit entry in the transcript,
which the LLM is not shown.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from agentic_loop.llm.failover import failover_target
from agentic_loop.types import Failover, Message
from agentic_loop.workflow.policies import failure_message
from agentic_loop.workflow.state import ConversationState


def fail_over(state: ConversationState, error: ActivityError) -> Failover | None:
    """The move to the next provider that the failed call's details name, made in `state`;
    None when they name none (the failure is final)."""
    cause = error.cause
    target = failover_target(cause.details) if isinstance(cause, ApplicationError) else None
    if target is None:
        return None
    failed, to = target
    moved = Failover(
        turn=state.turns,
        from_provider=failed,
        to_provider=to,
        reason=failure_message(error),
        at=workflow.now().isoformat(),
    )
    state.provider = to
    state.failovers.append(moved)
    state.transcript.append(
        Message(
            role="failover",
            content=f"{failed} failed ({moved.reason}); turn {moved.turn} goes to {to}",
            name=to,
            is_error=True,
            at=moved.at,
        )
    )
    return moved
