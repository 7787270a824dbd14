"""Tool calls that wait for a person: approve, reject, or no decision in time.

Workflow code (deterministic): waiting is a durable timer of `approval_timeout_seconds`, and
every decision, the timeout's included, becomes an audit entry of the transcript.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from agentic_loop.types import ApprovalDecision, ApprovalRequest, Message, ToolCall
from agentic_loop.workflow.policies import tool_summary


class Approvals:
    def __init__(self) -> None:
        # Calls waiting for a decision, and decisions not yet taken up by their call.
        self.awaiting: dict[str, ToolCall] = {}
        self.decisions: dict[str, ApprovalDecision] = {}

    def open_calls(self) -> list[str]:
        return [c for c in self.awaiting if c not in self.decisions]

    def check(self, request: ApprovalRequest) -> None:
        """The validator of `approve` and `reject`: refuse a decision nobody waits for."""
        open_calls = self.open_calls()
        if not open_calls:
            raise ValueError("no tool call is waiting for approval")
        if request.call_id is not None and request.call_id not in open_calls:
            raise ValueError(
                f"tool call {request.call_id!r} is not waiting for approval; "
                f"waiting: {', '.join(open_calls)}"
            )

    def decide(self, request: ApprovalRequest, *, approved: bool) -> list[str]:
        """Record a person's decision on one call, or on every open call; returns their ids."""
        chosen = [request.call_id] if request.call_id is not None else self.open_calls()
        for call_id in chosen:
            self.decisions[call_id] = ApprovalDecision(
                call_id=call_id,
                approved=approved,
                reason=request.reason,
                decided_by="user",
                at=workflow.now().isoformat(),
            )
        return chosen

    async def wait_for(self, call: ToolCall, timeout_seconds: float) -> ApprovalDecision:
        """The decision on `call`; no decision within the timeout counts as a rejection."""
        self.awaiting[call.id] = call
        try:
            await workflow.wait_condition(
                lambda: call.id in self.decisions,
                timeout=timedelta(seconds=timeout_seconds),
                timeout_summary=f"approval of {tool_summary(call)}",
            )
            return self.decisions.pop(call.id)
        except TimeoutError:
            return ApprovalDecision(
                call_id=call.id,
                approved=False,
                reason=f"no decision within {timeout_seconds:g} s",
                decided_by="timeout",
                at=workflow.now().isoformat(),
            )
        finally:
            self.awaiting.pop(call.id, None)


def rejection(decision: ApprovalDecision) -> str:
    """What the model is told of a rejected call: that it did not run, and the reason if
    one was given (no dangling colon without one)."""
    if decision.reason:
        return f"the call was rejected: {decision.reason}"
    return "the call was rejected (no reason given)"


def audit_entry(call: ToolCall, decision: ApprovalDecision) -> Message:
    """The transcript's record of a decision: for people, never shown to the LLM."""
    verdict = "approved" if decision.approved else "rejected"
    reason = f": {decision.reason}" if decision.reason else ""
    return Message(
        role="approval",
        content=f"{verdict} by {decision.decided_by}{reason}",
        tool_call_id=call.id,
        name=call.name,
        is_error=not decision.approved,
        at=decision.at,
    )
