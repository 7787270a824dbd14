"""What the `agentic-loop` commands share: errors, connecting, starting input, printing."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any, NoReturn, TextIO

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError

from agentic_loop.config import Settings
from agentic_loop.llm import LLMProvider
from agentic_loop.temporal import dev_server as embedded
from agentic_loop.temporal.connection import (
    DEFAULT_ADDRESS,
    client_connect_config,
    configured_address,
    connect_client,
    describe,
)
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.types import (
    AgentInput,
    AgentResult,
    AgentStatus,
    Message,
    TranscriptPage,
    TranscriptRequest,
)
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.policies import goal_problem

POLL_SECONDS = 0.2


class CLIError(Exception):
    """An error for a person: printed as one line, exit code 2, no traceback."""


def _fail(message: str) -> NoReturn:
    raise CLIError(message)


async def connect(settings: Settings, plugin: AgentLoopPlugin | None = None) -> Client:
    """A client of the configured Temporal (TEMPORAL_* variables or a temporal.toml profile,
    else localhost:7233) with `plugin` (AgentLoopPlugin of the settings unless given); or,
    within seconds, an error naming the address (the SDK alone would keep retrying)."""
    return await connect_client(
        settings, address_override=_default_address(settings), plugin=plugin
    )


def _default_address(settings: Settings) -> str | None:
    """localhost:7233 (where `agentic-loop server` listens) when nothing else is configured."""
    return None if configured_address(settings) else DEFAULT_ADDRESS


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
        # Its client gets the plugin, as every other client of ours does.
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


def _checked_goal(goal: str) -> str:
    problem = goal_problem(goal)
    if problem is not None:
        _fail(problem)
    return goal


def _agent_input(args: argparse.Namespace, settings: Settings) -> AgentInput:
    if args.max_turns < 1:
        _fail("--max-turns must be at least 1")
    agent_input = AgentInput(
        goal=_checked_goal(args.goal),
        max_turns=args.max_turns,
        model=args.model,
        chat=getattr(args, "chat", False),
        approval_required=list(args.approve_tool or settings.approval_tools),
    )
    if getattr(args, "tools_as_activities", False):
        agent_input.inline_tools = []
    return agent_input


def _result_json(result: AgentResult) -> str:
    data = dataclasses.asdict(result)
    data["status"] = result.status.value
    return json.dumps(data, ensure_ascii=False)


def _describe_provider(provider: LLMProvider) -> str:
    return f"{provider.name} (model {provider.default_model})"


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StepPrinter:
    """Shows the conversation as it grows, read through the `transcript` query."""

    def __init__(self, out: TextIO, *, show_answers: bool = False) -> None:
        self.out = out
        self.seen = 2  # the system prompt and the goal are shown before the run
        self.turn = 0
        # A chat shows each answer as it comes; `run` prints the final one at the end.
        self.show_answers = show_answers

    def show(self, messages: Sequence[Message]) -> None:
        for message in messages:
            if message.role == "assistant":
                self.turn += 1
                for call in message.tool_calls:
                    print(
                        f"[turn {self.turn}] LLM calls {call.name}({call.arguments})", file=self.out
                    )
                if not message.tool_calls and self.show_answers:
                    print(f"agent> {message.content}", file=self.out)
                elif not message.tool_calls:
                    print(f"[turn {self.turn}] LLM answers", file=self.out)
            elif message.role == "tool":
                mark = "refused" if message.is_error else "->"
                print(
                    f"[turn {self.turn}] {message.name} {mark} {_shorten(message.content)}",
                    file=self.out,
                )
            elif message.role == "approval":
                print(f"[turn {self.turn}] {message.name} {message.content}", file=self.out)
            elif message.role == "user" and not self.show_answers:
                print(f"[user] {_shorten(message.content)}", file=self.out)
        self.out.flush()

    async def poll(self, handle: WorkflowHandle[Any, Any]) -> None:
        with contextlib.suppress(RPCError, WorkflowFailureError):
            page: TranscriptPage = await handle.query(
                AgentWorkflow.transcript, TranscriptRequest(start=self.seen)
            )
            self.show(page.messages)
            self.seen = page.start + len(page.messages)

    async def follow(self, handle: WorkflowHandle[Any, Any]) -> None:
        while True:
            await self.poll(handle)
            await asyncio.sleep(POLL_SECONDS)


async def _await_result(handle: WorkflowHandle[Any, AgentResult]) -> AgentResult:
    try:
        return await handle.result()
    except WorkflowFailureError as e:
        cause = e.cause
        _fail(f"workflow {handle.id} failed: {cause if cause is not None else e}")


def _print_result(result: AgentResult, out: TextIO) -> None:
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


def _exit_code(result: AgentResult) -> int:
    """0 for a goal reached or a conversation ended by its person; 1 for any other ending."""
    return 0 if result.status in (AgentStatus.COMPLETED, AgentStatus.ENDED) else 1


async def _close(provider: LLMProvider | None) -> None:
    """Close the provider's HTTP client (OpenAI's), once the worker no longer uses it."""
    aclose = getattr(provider, "aclose", None)
    if aclose is not None:
        await aclose()
