"""What the commands share: errors for people, connecting, the agent's input, one local agent
(server, worker and provider for `run` and `chat`), finding a workflow, printing results."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
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
from agentic_loop.llm import LLMProvider, provider_from_settings
from agentic_loop.outcome import agent_result
from agentic_loop.temporal import embedded
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
    client_connect_config,
    configured_address,
    connect_client,
    describe,
)
from agentic_loop.temporal.payload_store import PayloadStoreError, beside_database
from agentic_loop.temporal.start_options import agent_start_options
from agentic_loop.transcript.reader import ClosedRunUnreadable
from agentic_loop.types import AgentInput, AgentResult
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.policies import goal_problem

if TYPE_CHECKING:
    from agentic_loop.temporal.plugin import AgentLoopPlugin
    from agentic_loop.tools import ToolRegistry
    from agentic_loop.tools.mcp.servers import McpServers

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


def tools_for(args: argparse.Namespace, settings: Settings) -> ToolRegistry:
    """What this process's worker serves: built-ins, installed entry points, AGENTIC_LOOP_TOOLS
    and every --tools of the command."""
    # Imported here: loading tools costs a command that only talks to a server some 0.2 s.
    from agentic_loop.tools import build_registry

    return build_registry([*settings.tools, *(getattr(args, "tools", None) or ())])


def mcp_for(args: argparse.Namespace, settings: Settings) -> McpServers | None:
    """The MCP servers of the command's --mcp FILE, else of AGENTIC_LOOP_MCP; None without
    either. The file is read (and a bad one reported) here; the servers start later."""
    given = getattr(args, "mcp", None)
    path = Path(given).expanduser() if given else settings.mcp_file
    if path is None:
        return None
    from agentic_loop.tools.mcp.servers import McpServers

    return McpServers.from_file(path)


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


@dataclass
class LocalAgent:
    """A client, and (unless the server's workers are used) a worker of this process."""

    client: Client
    where: str  # where Temporal is, for people
    provider: LLMProvider | None  # None: no worker here
    # host:port of an embedded server, which another terminal needs to reach this run (it is
    # a random port); None when the server is the configured one.
    embedded_address: str | None = None
    # Where this command's agents are started (and its worker, if any, polls).
    task_queue: str = ""


@contextlib.asynccontextmanager
async def local_agent(
    args: argparse.Namespace, settings: Settings, *, worker: bool = True
) -> AsyncIterator[LocalAgent]:
    """For `run` and `chat`: the configured server or an embedded one for as long as the
    command runs, and a worker in this process with the provider and tools the settings and
    options name, stopped and closed at the end."""
    from agentic_loop.temporal.plugin import AgentLoopPlugin
    from agentic_loop.worker import build_worker

    provider = provider_from_settings(settings) if worker else None
    tools = tools_for(args, settings) if worker else None
    mcp = mcp_for(args, settings) if worker else None
    plugin = AgentLoopPlugin(settings, provider=provider, tools=tools, mcp=mcp)
    try:
        # Before Temporal: a server that cannot start is said at once, in one line.
        await plugin.start_mcp()
        async with temporal_for_run(settings, args.db_filename, plugin) as (client, where):
            embedded_address = None if configured_address(settings) else target_of(client)
            queue = command_task_queue(settings, worker=worker)
            running = build_worker(client, task_queue=queue) if worker else None
            try:
                async with running if running is not None else contextlib.nullcontext():
                    yield LocalAgent(client, where, provider, embedded_address, queue)
            except RuntimeError as e:
                if namespace_missing(e):
                    fail(namespace_message(settings))
                raise
    finally:
        await plugin.aclose()


@contextlib.asynccontextmanager
async def temporal_for_run(
    settings: Settings, db_filename: str | None, plugin: AgentLoopPlugin
) -> AsyncIterator[tuple[Client, str]]:
    """The configured server, or an embedded dev server that lives as long as the command;
    either way a client with `plugin`."""
    if configured_address(settings):
        client = await connect(settings, plugin, embedded_option=True)
        yield client, describe(client_connect_config(settings))
        return
    async with embedded_server(plugin, settings.namespace, db_filename) as client:
        kept = f"history in {db_filename}" if db_filename else "ephemeral"
        yield client, f"embedded dev server on {target_of(client)} ({kept})"


@contextlib.asynccontextmanager
async def embedded_server(
    plugin: AgentLoopPlugin, namespace: str = "default", db_filename: str | None = None
) -> AsyncIterator[Client]:
    """A client of an embedded dev server (the one the command started early, if it did)
    that lives as long as the block runs. Payloads too big for history are kept beside its
    database, or, for an ephemeral server, in a directory as ephemeral as it is (unless
    AGENTIC_LOOP_PAYLOAD_STORE names a store)."""
    server = embedded.take(namespace, db_filename)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(server.stop)
        if db_filename:
            plugin.keep_payloads_in(beside_database(db_filename))
        else:
            temporary = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="payloads-"))
            plugin.keep_payloads_in(Path(temporary))
        try:
            client = await server.connect(plugin)
        except RuntimeError as e:
            raise CLIError(str(e)) from None
        yield client


def target_of(client: Client) -> str:
    return client.service_client.config.target_host


def queue_text(agent: LocalAgent, settings: Settings) -> str:
    """The banner's word on the task queue: only a shared server's is worth a line."""
    if agent.embedded_address is not None:
        return ""
    own = agent.task_queue != settings.task_queue
    return f", task queue {agent.task_queue}" + (" (this command's own)" if own else "")


def command_task_queue(settings: Settings, *, worker: bool) -> str:
    """The task queue of `run` and `chat`. On a shared server with a worker of their own they
    use a queue of their own: on the shared one, another worker (with another LLM, or older
    code) could answer instead of the one the command announced. AGENTIC_LOOP_TASK_QUEUE,
    when set, is used as given; so is the default queue without a worker here (`--no-worker`
    asks the server's workers) or on the command's own embedded server."""
    if not worker or settings.task_queue_set or not configured_address(settings):
        return settings.task_queue
    return f"{settings.task_queue}-{uuid.uuid4().hex[:8]}"


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
