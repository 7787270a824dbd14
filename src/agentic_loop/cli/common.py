"""What the commands share: errors for people, connecting, the agent's input, starting and
finding a workflow, its result. The local agent of `run` and `chat` is in local.py."""

from __future__ import annotations

import argparse
import uuid
from typing import TYPE_CHECKING, Any, NoReturn

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from agentic_loop.config import Settings
from agentic_loop.outcome import agent_result
from agentic_loop.temporal.codec import (
    ENCODING,
    KEY_ID,
    KEYS_VARIABLE,
    CodecError,
    codec_from_settings,
)
from agentic_loop.temporal.connection import (
    DEFAULT_ADDRESS,
    TemporalUnreachable,
    configured_address,
    connect_client,
)
from agentic_loop.temporal.payload_store import PayloadStoreError
from agentic_loop.temporal.start_options import agent_start_options
from agentic_loop.transcript.reader import ClosedRunUnreadable
from agentic_loop.types import AgentInput, AgentResult
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.policies import goal_problem

if TYPE_CHECKING:
    from agentic_loop.temporal.plugin import AgentLoopPlugin

Handle = WorkflowHandle[Any, AgentResult]
POLL_SECONDS = 0.2
# How long a one-off command waits for a query before answering from the server alone: a
# query needs a worker, and without one the server holds it for ~30 s and then gives up.
QUERY_SECONDS = 5.0


class CLIError(Exception):
    """An error for a person: printed as one line, exit code 2, no traceback."""


def fail(message: str) -> NoReturn:
    raise CLIError(message)


def default_address(settings: Settings) -> str | None:
    """localhost:7233 (where `agentic-loop server` listens) when nothing else is configured."""
    return None if configured_address(settings) else DEFAULT_ADDRESS


async def connect(
    settings: Settings,
    plugin: AgentLoopPlugin | None = None,
    *,
    embedded_option: bool = False,
    client_only: bool = False,
) -> Client:
    """A client of the configured Temporal (TEMPORAL_* variables or a temporal.toml profile,
    else localhost:7233) with `plugin` (AgentLoopPlugin of the settings unless given); or,
    within seconds, an error naming the address (the SDK alone would keep retrying).
    `embedded_option`: the command would start an embedded server without TEMPORAL_ADDRESS.
    `client_only`: for a command that runs no worker: the plugin's converter and interceptors,
    without importing the worker side unless it reads a closed run back (connect_client)."""
    try:
        return await connect_client(
            settings,
            address_override=default_address(settings),
            plugin=plugin,
            embedded_option=embedded_option,
            client_only=client_only,
        )
    except TemporalUnreachable as e:
        raise CLIError(str(e)) from None


def new_workflow_id(prefix: str = "agent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def agent_input(args: argparse.Namespace, settings: Settings, *, chat: bool = False) -> AgentInput:
    problem = goal_problem(args.goal)
    if problem is not None:
        fail(problem)
    if args.max_turns < 1:
        fail("--max-turns must be at least 1")
    value = AgentInput(
        goal=args.goal,
        max_turns=args.max_turns,
        model=args.model,
        chat=chat or getattr(args, "chat", False),
        approval_required=list(args.approve_tool or settings.approval_tools),
        tool_result_limit_bytes=settings.tool_result_limit_bytes,
    )
    if getattr(args, "tools_as_activities", False):
        value.inline_tools = []
    return value


async def start_agent(
    client: Client,
    value: AgentInput,
    workflow_id: str,
    settings: Settings,
    task_queue: str | None = None,
) -> Handle:
    """Start the agent on `task_queue` (the settings' unless given)."""
    try:
        options = await agent_start_options(client, settings.namespace, value.goal)
        return await client.start_workflow(
            AgentWorkflow.run,
            value,
            id=workflow_id,
            task_queue=task_queue or settings.task_queue,
            **options,
        )
    except WorkflowAlreadyStartedError:
        fail(
            f"a workflow with id {workflow_id!r} is already running in namespace "
            f"{settings.namespace!r}: choose another --id, or follow that one with "
            f"`agentic-loop result {workflow_id}`"
        )
    except RPCError as e:
        if namespace_missing(e):
            fail(namespace_message(settings))
        raise


async def existing_handle(client: Client, workflow_id: str, settings: Settings) -> Handle:
    """The workflow's handle, or a clear error when the server does not know the id."""
    handle, _ = await described_handle(client, workflow_id, settings)
    return handle


async def described_handle(
    client: Client, workflow_id: str, settings: Settings
) -> tuple[Handle, WorkflowExecutionDescription]:
    """The workflow's handle and what the server says of its latest run (no worker needed),
    or a clear error when the server does not know the namespace or the id."""
    handle = client.get_workflow_handle_for(AgentWorkflow.run, workflow_id)
    try:
        description = await handle.describe()
    except RPCError as e:
        if namespace_missing(e):
            fail(namespace_message(settings))
        if e.status == RPCStatusCode.NOT_FOUND:
            fail(f"no workflow with id {workflow_id!r} in namespace {settings.namespace!r}")
        raise
    await _check_keys(client, description, settings)
    return handle, description


async def _check_keys(
    client: Client, description: WorkflowExecutionDescription, settings: Settings
) -> None:
    """Refuse, naming the key, to read a run sealed with a key this command lacks: its
    input's payload names the key (never the key itself). Without this, the error would come
    from the worker, in terms of the key this command sent, or from deep in the SDK."""
    first = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=settings.namespace,
            execution=WorkflowExecution(workflow_id=description.id, run_id=description.run_id),
            maximum_page_size=1,
        )
    )
    have = codec_from_settings(settings).key_ids
    for event in first.history.events[:1]:
        for payload in event.workflow_execution_started_event_attributes.input.payloads:
            if payload.metadata.get("encoding") != ENCODING:
                continue
            need = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
            if need not in have:
                listed = f"it lists {', '.join(map(repr, have))}" if have else "it is not set"
                fail(
                    f"workflow {description.id!r} is encrypted with key {need!r}, which "
                    f"{KEYS_VARIABLE} lacks ({listed}): set it to a list that includes that key"
                )


def is_running(description: WorkflowExecutionDescription) -> bool:
    return description.status == WorkflowExecutionStatus.RUNNING


def run_state(description: WorkflowExecutionDescription) -> str:
    """The run's state as the server names it: running, completed, failed, terminated, ..."""
    status = description.status
    return status.name.lower().replace("_", " ") if status is not None else "unknown"


def namespace_missing(error: BaseException) -> bool:
    """Whether the server refused because the namespace does not exist (its clients are told
    NOT_FOUND, as for an unknown workflow id; its workers fail their validation)."""
    if isinstance(error, RPCError):
        if error.status != RPCStatusCode.NOT_FOUND:
            return False
        if any(d.type_url.endswith("NamespaceNotFoundFailure") for d in error.grpc_status.details):
            return True
        return error.message.lower().startswith("namespace ")
    return isinstance(error, RuntimeError) and "validation failed: Namespace" in str(error)


def namespace_message(settings: Settings) -> str:
    return (
        f"namespace {settings.namespace!r} does not exist on this Temporal server: set "
        "TEMPORAL_NAMESPACE to one that does (unset means 'default'), or create it with "
        f"`temporal operator namespace create --namespace {settings.namespace}`"
    )


def explain(error: BaseException, settings: Settings) -> str | None:
    """A sentence for errors that reach the top of a command from deep in the SDK, or None
    for those that are bugs (and keep their traceback)."""
    for cause in _chain(error):
        if isinstance(cause, CodecError):
            return f"cannot read this workflow's payloads: {cause}"
        if isinstance(cause, PayloadStoreError):
            return f"cannot read this workflow's payloads: {cause.message}"
        if isinstance(cause, ClosedRunUnreadable):
            # The code here cannot replay it: a deploy problem for whoever runs the workers.
            first_line = str(cause).splitlines()[0]
            return f"{first_line} (`agentic-loop replay --from-server` shows why)"
        if isinstance(cause, WorkflowQueryFailedError) and "AGENTIC_LOOP_CODEC_KEYS" in str(cause):
            # The worker could not open what this command sent, sealed with its own key.
            return (
                "the workers cannot open what this command sent: set AGENTIC_LOOP_CODEC_KEYS "
                f"as the workers have it (they said: {cause})"
            )
        if namespace_missing(cause):
            return namespace_message(settings)
    return None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def encryption_text(settings: Settings) -> str:
    """How payloads reach the server: sealed with the first key of AGENTIC_LOOP_CODEC_KEYS."""
    keys = codec_from_settings(settings).key_ids
    return f"payloads encrypted with key {keys[0]!r}" if keys else "payloads not encrypted"


async def await_result(handle: Handle) -> AgentResult:
    try:
        return await agent_result(handle)
    except WorkflowFailureError as e:
        cause = e.cause
        fail(f"workflow {handle.id} failed: {cause if cause is not None else e}")
