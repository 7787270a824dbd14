"""`run`, `start` and `result`: an agent from its goal to its answer."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Callable

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from agentic_loop.cli.chat import Chat, Lines
from agentic_loop.cli.common import (
    POLL_SECONDS,
    Handle,
    agent_input,
    await_result,
    connect,
    existing_handle,
    new_workflow_id,
    start_agent,
)
from agentic_loop.cli.live import LiveLine, shows_live
from agentic_loop.cli.local import LocalAgent, local_agent, queue_text
from agentic_loop.cli.output import describe_provider, exit_code, print_result, to_json
from agentic_loop.cli.steps import StepPrinter
from agentic_loop.config import DEFAULT_NAMESPACE, Settings
from agentic_loop.types import AgentInput, AgentProgress, ToolCall
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.policies import tool_summary


def _how_to_decide(
    call: ToolCall, workflow_id: str, agent: LocalAgent, value: AgentInput, settings: Settings
) -> str:
    """One line saying how a person decides a call from another terminal: the embedded
    server is on a random port, so the command names it."""
    env = ""
    if agent.embedded_address is not None:
        env = f"TEMPORAL_ADDRESS={agent.embedded_address} "
        if settings.namespace != DEFAULT_NAMESPACE:
            env += f"TEMPORAL_NAMESPACE={settings.namespace} "
    keys = " (with the same AGENTIC_LOOP_CODEC_KEYS)" if settings.codec_keys else ""
    seconds = value.approval_timeout_seconds
    wait = f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds:g} s"
    return (
        f"agentic-loop: {tool_summary(call)} waits for approval; decide in another "
        f"terminal{keys}: {env}agentic-loop approve {workflow_id} (or reject {workflow_id} "
        f"--reason WHY); undecided after {wait} it counts as rejected"
    )


async def _follow(
    handle: Handle,
    printer: StepPrinter | None,
    chat: Chat | None,
    how_to: Callable[[ToolCall], str],
    live: LiveLine | None = None,
) -> None:
    """Show the steps (unless `printer` is None) and the live line (unless `live` is None)
    and, for each call waiting for approval, ask at the prompt (`chat`) or, without a
    terminal, say once on stderr how to decide it."""
    said: set[str] = set()
    if printer is not None and live is not None:
        printer.before_print = live.clear
    try:
        while True:
            if printer is not None:
                await printer.poll(handle)
            progress: AgentProgress | None = None
            with contextlib.suppress(RPCError, WorkflowQueryFailedError):  # ending meanwhile
                progress = await handle.query(AgentWorkflow.status)
            for call in progress.awaiting_approval if progress is not None else []:
                if live is not None:
                    live.clear()
                if chat is not None:
                    await chat.decide(call.id, tool_summary(call))
                elif call.id not in said:
                    said.add(call.id)
                    print(how_to(call), file=sys.stderr, flush=True)
            if live is not None:
                await live.update(handle)
            await asyncio.sleep(POLL_SECONDS)
    finally:
        if live is not None:
            live.clear()


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    value = agent_input(args, settings)
    out = sys.stdout
    quiet = args.json
    if not quiet:
        print(f"Goal: {value.goal}", file=out)
    async with local_agent(args, settings, worker=not args.no_worker) as agent:
        if not quiet:
            llm = describe_provider(agent.provider) if agent.provider else "the remote workers"
            print(f"LLM: {llm}", file=out)
            print(f"Temporal: {agent.where}{queue_text(agent, settings)}", file=out, flush=True)
        workflow_id = args.id or new_workflow_id()
        handle = await start_agent(agent.client, value, workflow_id, settings, agent.task_queue)
        if not quiet:
            print(f"Workflow: {workflow_id}\n", file=out, flush=True)
        printer = None if quiet else StepPrinter(out)
        # A person at a terminal decides at the prompt, as in `chat` (on stderr with --json:
        # stdout is the result's); anyone else is told how to decide from elsewhere.
        chat = (
            Chat(handle, Lines(sys.stdin), sys.stderr if quiet else out) if _at_terminal() else None
        )
        live = None if quiet else LiveLine(out, at_terminal=shows_live(out))
        follower = asyncio.create_task(
            _follow(
                handle,
                printer,
                chat,
                lambda call: _how_to_decide(call, workflow_id, agent, value, settings),
                live,
            )
        )
        try:
            result = await await_result(handle)
        except asyncio.CancelledError:
            # Ctrl-C: say what became of the run, which may well outlive this command.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            print(f"agentic-loop: interrupted; {_left_behind(workflow_id, agent, settings)}",
                  file=sys.stderr)  # fmt: skip
            return 130
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        if printer is not None:
            await printer.poll(handle)
    if quiet:
        print(to_json(result), file=out)
    else:
        print_result(result, out)
        print(f"({time.monotonic() - started:.1f} s)", file=out)
    return exit_code(result)


def _left_behind(workflow_id: str, agent: LocalAgent, settings: Settings) -> str:
    """What an interrupted `run` leaves: nothing on its embedded server (gone with it), a
    running workflow on a shared one, and who could finish it."""
    if agent.embedded_address is not None:
        return f"the run {workflow_id} ended with the embedded server"
    own_queue = agent.provider is not None and agent.task_queue != settings.task_queue
    finish = (
        f"a worker on its task queue finishes it: `AGENTIC_LOOP_TASK_QUEUE={agent.task_queue} "
        f"agentic-loop worker` (no other worker polls that queue)"
        if own_queue
        else f"a worker on task queue {agent.task_queue!r} finishes it"
    )
    return (
        f"workflow {workflow_id} keeps running on the server: `agentic-loop cancel "
        f"{workflow_id}` cancels it; {finish}, and `agentic-loop result {workflow_id}` shows "
        "its answer"
    )


def _at_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except ValueError:  # closed
        return False


async def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    value = agent_input(args, settings)
    client = await connect(settings, client_only=True)
    workflow_id = args.id or new_workflow_id()
    await start_agent(client, value, workflow_id, settings)
    print(to_json({"workflow_id": workflow_id}) if args.json else workflow_id)
    return 0


async def cmd_result(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings, client_only=True)
    handle = await existing_handle(client, args.workflow_id, settings)
    result = await await_result(handle)
    if args.json:
        print(to_json(result))
    else:
        print_result(result, sys.stdout)
    return exit_code(result)
