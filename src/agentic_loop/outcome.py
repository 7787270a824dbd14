"""An agent's AgentResult, however its execution ended.

A failed agent fails its execution, with its AgentResult as the failure's one detail, and a
cancelled one ends as a cancelled execution (workflow/visibility.py says why): so
`handle.result()` raises for both. `agent_result()` gives the AgentResult in every case,
which is what a caller of an agent wants (the CLI, the test kit and the recorder use it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import (
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.converter import value_to_type
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError

from agentic_loop.types import (
    AgentProgress,
    AgentResult,
    AgentStatus,
    TranscriptPage,
    TranscriptRequest,
)
from agentic_loop.workflow.visibility import AGENT_FAILED

# How long to wait for a worker to answer the queries that rebuild a cancelled run's result.
QUERY_SECONDS = 5.0


async def agent_result(handle: WorkflowHandle[Any, Any]) -> AgentResult:
    """The run's AgentResult: returned, carried by its failure, or (cancelled) read back from
    its state through the `status` and `transcript` queries. Any other failure (a workflow
    terminated, timed out, or failed by a bug) is raised as WorkflowFailureError."""
    try:
        returned = await handle.result()
        if isinstance(returned, AgentResult):
            return returned
        # A handle made without the workflow's type (get_workflow_handle(id)) gives the
        # result as plain JSON data.
        result: AgentResult = value_to_type(AgentResult, returned, [])
        return result
    except WorkflowFailureError as e:
        carried = result_of_failure(e)
        if carried is not None:
            return carried
        if isinstance(e.cause, CancelledError):
            return await _cancelled_result(handle)
        raise


def result_of_failure(error: BaseException) -> AgentResult | None:
    """The AgentResult a failed agent's execution failure carries, or None for other errors."""
    cause = error.cause if isinstance(error, WorkflowFailureError) else error
    if not isinstance(cause, ApplicationError) or cause.type != AGENT_FAILED:
        return None
    if not cause.details:
        return None
    detail = cause.details[0]
    if isinstance(detail, AgentResult):
        return detail
    result: AgentResult = value_to_type(AgentResult, detail, [])
    return result


async def _cancelled_result(handle: WorkflowHandle[Any, Any]) -> AgentResult:
    """A cancelled run's result from its state; without a worker to answer, what is known."""
    timeout = timedelta(seconds=QUERY_SECONDS)
    try:
        progress: AgentProgress = await handle.query(
            "status", result_type=AgentProgress, rpc_timeout=timeout
        )
        page: TranscriptPage = await handle.query(
            "transcript",
            TranscriptRequest(start=max(0, progress.transcript_length - 20)),
            result_type=TranscriptPage,
            rpc_timeout=timeout,
        )
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):  # no worker
        return AgentResult(answer="", status=AgentStatus.CANCELLED, workflow_id=handle.id)
    answer = next(
        (m.content for m in reversed(page.messages) if m.role == "assistant" and m.content),
        "",
    )
    return AgentResult(
        answer=answer,
        status=AgentStatus.CANCELLED,
        workflow_id=handle.id,
        turns=progress.turns,
        tool_calls=progress.tool_calls,
        usage=progress.usage,
        transcript_length=progress.transcript_length,
        transcript=page.messages,
        transcript_start=page.start,
        requests=progress.requests,
        cost_usd=progress.cost_usd,
        failovers=progress.failovers,
    )
