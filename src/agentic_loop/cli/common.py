"""What the commands share: errors for people, connecting, the agent's input, one local agent
(server, worker and provider for `run` and `chat`), finding a workflow, printing results."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from agentic_loop.config import Settings
from agentic_loop.llm import LLMProvider, provider_from_settings
from agentic_loop.telemetry import install_log_handler
from agentic_loop.temporal import dev_server as embedded
from agentic_loop.temporal.connection import (
    DEFAULT_ADDRESS,
    client_connect_config,
    configured_address,
    connect_client,
    describe,
)
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.tools import ToolRegistry, build_registry
from agentic_loop.types import AgentInput, AgentResult, AgentStatus
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.policies import goal_problem

Handle = WorkflowHandle[Any, AgentResult]
POLL_SECONDS = 0.2


class CLIError(Exception):
    """An error for a person: printed as one line, exit code 2, no traceback."""


def fail(message: str) -> NoReturn:
    raise CLIError(message)


class _OneLineFormatter(logging.Formatter):
    """Warnings of the SDK (a retried LLM call, say) as one line each, without a traceback:
    the command's own output says what happened, and tracebacks are for the worker's logs."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def configure_command_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("agentic-loop: %(levelname)s: %(message)s"))
    install_log_handler(handler, settings, logging.WARNING)


def default_address(settings: Settings) -> str | None:
    """localhost:7233 (where `agentic-loop server` listens) when nothing else is configured."""
    return None if configured_address(settings) else DEFAULT_ADDRESS


async def connect(settings: Settings, plugin: AgentLoopPlugin | None = None) -> Client:
    """A client of the configured Temporal (TEMPORAL_* variables or a temporal.toml profile,
    else localhost:7233) with `plugin` (AgentLoopPlugin of the settings unless given); or,
    within seconds, an error naming the address (the SDK alone would keep retrying)."""
    return await connect_client(settings, address_override=default_address(settings), plugin=plugin)


def new_workflow_id(prefix: str = "agent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def tools_for(args: argparse.Namespace, settings: Settings) -> ToolRegistry:
    """What this process's worker serves: built-ins, installed entry points, AGENTIC_LOOP_TOOLS
    and every --tools of the command."""
    return build_registry([*settings.tools, *(getattr(args, "tools", None) or ())])


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


@contextlib.asynccontextmanager
async def local_agent(
    args: argparse.Namespace, settings: Settings, *, worker: bool = True
) -> AsyncIterator[LocalAgent]:
    """For `run` and `chat`: the configured server or an embedded one for as long as the
    command runs, and a worker in this process with the provider and tools the settings and
    options name, stopped and closed at the end."""
    provider = provider_from_settings(settings) if worker else None
    tools = tools_for(args, settings) if worker else None
    plugin = AgentLoopPlugin(settings, provider=provider, tools=tools)
    try:
        async with temporal_for_run(settings, args.db_filename, plugin) as (client, where):
            running = build_worker(client, task_queue=settings.task_queue) if worker else None
            async with running if running is not None else contextlib.nullcontext():
                yield LocalAgent(client, where, provider)
    finally:
        await plugin.aclose()


@contextlib.asynccontextmanager
async def temporal_for_run(
    settings: Settings, db_filename: str | None, plugin: AgentLoopPlugin
) -> AsyncIterator[tuple[Client, str]]:
    """The configured server, or an embedded dev server that lives as long as the command;
    either way a client with `plugin`."""
    if configured_address(settings):
        yield await connect(settings, plugin), describe(client_connect_config(settings))
        return
    # The dev server inherits our stdout and prints a banner on it (its address, a metrics
    # port): `--json` output must be the result alone, and the address is ours to show, so it
    # starts with stdout on /dev/null. Its errors still reach stderr.
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        env = await embedded.start_dev_server(
            namespace=settings.namespace, db_filename=db_filename, plugin=plugin
        )
    finally:
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    try:
        where = "embedded dev server" + (f" ({db_filename})" if db_filename else " (ephemeral)")
        yield env.client, where
    finally:
        await env.shutdown()


async def start_agent(
    client: Client, value: AgentInput, workflow_id: str, settings: Settings
) -> Handle:
    return await client.start_workflow(
        AgentWorkflow.run, value, id=workflow_id, task_queue=settings.task_queue
    )


async def existing_handle(client: Client, workflow_id: str, settings: Settings) -> Handle:
    """The workflow's handle, or a clear error when the server does not know the id."""
    handle = client.get_workflow_handle_for(AgentWorkflow.run, workflow_id)
    try:
        await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            fail(f"no workflow with id {workflow_id!r} in namespace {settings.namespace!r}")
        raise
    return handle


async def await_result(handle: Handle) -> AgentResult:
    try:
        return await handle.result()
    except WorkflowFailureError as e:
        cause = e.cause
        fail(f"workflow {handle.id} failed: {cause if cause is not None else e}")


def to_json(value: Any) -> str:
    """A payload dataclass (or a plain dict) as one line of JSON, text as it is written."""
    is_payload = dataclasses.is_dataclass(value) and not isinstance(value, type)
    data = dataclasses.asdict(value) if is_payload else value
    return json.dumps(data, ensure_ascii=False, default=str)


def describe_provider(provider: LLMProvider) -> str:
    return f"{provider.name} (model {provider.default_model})"


def print_result(result: AgentResult, out: TextIO) -> None:
    print("", file=out)
    print("Answer:" if result.answer else f"No answer ({result.status.value}).", file=out)
    if result.answer:
        print(result.answer, file=out)
    if result.error:
        print(f"Error: {result.error}", file=out)
    usage = result.usage.total_tokens
    print(
        f"\n[{result.status.value}] {result.turns} LLM turns, {result.tool_calls} tool calls, "
        f"{usage} tokens · workflow {result.workflow_id}",
        file=out,
    )


def exit_code(result: AgentResult) -> int:
    """0 for a goal reached or a conversation ended by its person; 1 for any other ending."""
    return 0 if result.status in (AgentStatus.COMPLETED, AgentStatus.ENDED) else 1


def shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
