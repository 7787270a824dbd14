"""The `agentic-loop` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from temporalio.service import RPCError, RPCStatusCode

from agentic_loop.cli_common import (
    CLIError,
    StepPrinter,
    _agent_input,
    _await_result,
    _close,
    _default_address,
    _describe_provider,
    _exit_code,
    _fail,
    _print_result,
    _result_json,
    connect,
    temporal_for_run,
)
from agentic_loop.config import DEFAULT_GOAL, ConfigError, Settings, default_db_path
from agentic_loop.conversation_cli import add_commands as add_conversation_commands
from agentic_loop.llm import provider_from_settings
from agentic_loop.telemetry import configure_logging, install_log_handler
from agentic_loop.temporal import dev_server as embedded
from agentic_loop.temporal.codec_server import add_codec_server_command
from agentic_loop.temporal.codec_server import run as run_codec_server
from agentic_loop.temporal.connection import (
    client_connect_config,
    describe,
)
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.types import (
    AgentInput,
)
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow


class _OneLineFormatter(logging.Formatter):
    """Warnings of the SDK (a retried LLM call, say) as one line each, without a traceback:
    the command's own output says what happened, and tracebacks are for the worker's logs."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def _configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("agentic-loop: %(levelname)s: %(message)s"))
    install_log_handler(handler, settings, logging.WARNING)


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    agent_input = _agent_input(args, settings)
    out = sys.stdout
    quiet = args.json
    provider = None if args.no_worker else provider_from_settings(settings)
    if not quiet:
        print(f"Goal: {agent_input.goal}", file=out)
        print(
            f"LLM: {_describe_provider(provider) if provider else 'the remote workers'}", file=out
        )
    plugin = AgentLoopPlugin(settings, provider=provider)
    async with temporal_for_run(settings, args.db_filename, plugin) as (client, where):
        if not quiet:
            print(f"Temporal: {where}", file=out, flush=True)
        workflow_id = args.id or f"agent-{uuid.uuid4().hex[:12]}"
        worker = (
            build_worker(client, task_queue=settings.task_queue) if provider is not None else None
        )
        async with worker if worker is not None else contextlib.nullcontext():
            handle = await client.start_workflow(
                AgentWorkflow.run, agent_input, id=workflow_id, task_queue=settings.task_queue
            )
            if not quiet:
                print(f"Workflow: {workflow_id}\n", file=out, flush=True)
            printer = StepPrinter(out)
            follower = None if quiet else asyncio.create_task(printer.follow(handle))
            try:
                result = await _await_result(handle)
            finally:
                if follower is not None:
                    follower.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await follower
            if not quiet:
                await printer.poll(handle)
    await _close(provider)
    if quiet:
        print(_result_json(result), file=out)
    else:
        _print_result(result, out)
        print(f"({time.monotonic() - started:.1f} s)", file=out)
    return _exit_code(result)


async def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    agent_input = _agent_input(args, settings)
    client = await connect(settings)
    workflow_id = args.id or f"agent-{uuid.uuid4().hex[:12]}"
    await client.start_workflow(
        AgentWorkflow.run, agent_input, id=workflow_id, task_queue=settings.task_queue
    )
    print(json.dumps({"workflow_id": workflow_id}) if args.json else workflow_id)
    return 0


async def cmd_result(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = client.get_workflow_handle_for(AgentWorkflow.run, args.workflow_id)
    try:
        await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            _fail(f"no workflow with id {args.workflow_id!r} in namespace {settings.namespace!r}")
        raise
    result = await _await_result(handle)
    if args.json:
        print(_result_json(result))
    else:
        _print_result(result, sys.stdout)
    return _exit_code(result)


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    provider = provider_from_settings(settings)
    configure_logging(settings)
    client = await connect(settings, AgentLoopPlugin(settings, provider=provider))
    address = describe(client_connect_config(settings, address_override=_default_address(settings)))
    worker = build_worker(client, task_queue=settings.task_queue)
    print(
        f"Worker on {address}, namespace {settings.namespace!r}, task queue "
        f"{settings.task_queue!r}, LLM {_describe_provider(provider)}. Ctrl-C stops it.",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
    await _close(provider)
    return 0


def cmd_server(args: argparse.Namespace, settings: Settings) -> int:
    db = args.db_filename or str(settings.db_filename or default_db_path())
    os.makedirs(os.path.dirname(os.path.abspath(db)), exist_ok=True)
    command = [
        embedded.temporal_cli(), "server", "start-dev",
        "--ip", args.ip,
        "--port", str(args.port),
        "--ui-port", str(args.ui_port),
        "--db-filename", db,
        "--namespace", settings.namespace,
        *embedded.dev_server_args(),
    ]  # fmt: skip
    print(f"Temporal dev server on {args.ip}:{args.port}, history in {db}")
    host = "localhost" if args.ip in ("127.0.0.1", "0.0.0.0") else args.ip
    print(f"Web UI: http://{host}:{args.ui_port}")
    print("Ctrl-C stops it.", flush=True)
    process = subprocess.Popen(command)

    def forward(signum: int, _frame: object) -> None:
        process.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    code = process.wait()
    # Killed by the signal we forwarded (before it could install its handler): a clean stop.
    return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM) else code


def _add_goal_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-turns",
        type=int,
        default=AgentInput.max_turns,
        help="stop after this many LLM turns (default %(default)s)",
    )
    parser.add_argument("--model", default=None, help="model name (default: the provider's)")
    parser.add_argument(
        "--approve-tool",
        action="append",
        metavar="TOOL",
        help="ask a person before each call of this tool (repeatable; default: "
        "AGENTIC_LOOP_APPROVAL_TOOLS)",
    )
    parser.add_argument(
        "--tools-as-activities",
        action="store_true",
        help="run every tool call as an activity of its own, none inline in the LLM activity "
        "(inline_tools=[]), e.g. to see each one in the Temporal UI",
    )
    parser.add_argument("--id", default=None, help="workflow id (default: a new random one)")
    parser.add_argument("--json", action="store_true", help="print only the result, as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentic-loop", description="A durable LLM agent loop on Temporal."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run an agent to its goal and print the answer")
    run.add_argument("goal", nargs="?", default=DEFAULT_GOAL, help="what the agent should do")
    _add_goal_options(run)
    run.add_argument(
        "--no-worker",
        action="store_true",
        help="do not run a worker in this process (use the server's workers)",
    )
    run.add_argument(
        "--db-filename", default=None, help="keep the embedded server's history in this SQLite file"
    )

    start = sub.add_parser("start", help="start an agent and print its workflow id")
    start.add_argument("goal", help="what the agent should do")
    _add_goal_options(start)
    start.add_argument(
        "--chat", action="store_true", help="keep the conversation open for more messages"
    )

    result = sub.add_parser("result", help="wait for an agent's result and print it")
    result.add_argument("workflow_id")
    result.add_argument("--json", action="store_true", help="print only the result, as JSON")

    sub.add_parser("worker", help="run a worker for the agent loop until Ctrl-C")
    add_codec_server_command(sub)

    rep = sub.add_parser(
        "replay", help="replay exported histories against this code (ok / diverged per file)"
    )
    rep.add_argument("paths", nargs="+", metavar="PATH", help="history JSON files or directories")
    rep.add_argument("--json", action="store_true", help="one JSON object per file")

    srv = sub.add_parser("server", help="run the Temporal dev server with its Web UI")
    srv.add_argument("--ip", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=7233)
    srv.add_argument("--ui-port", type=int, default=8233)
    srv.add_argument(
        "--db-filename",
        default=None,
        help="SQLite file for history (default: AGENTIC_LOOP_DB or the user data dir)",
    )
    add_conversation_commands(sub, _add_goal_options)
    return parser


async def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from agentic_loop.replay import replay_command

    return await replay_command(args.paths, as_json=args.json)


_ASYNC_COMMANDS = {
    "run": cmd_run,
    "start": cmd_start,
    "result": cmd_result,
    "worker": cmd_worker,
    "replay": cmd_replay,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        _configure_logging(settings)
        if args.command == "server":
            return cmd_server(args, settings)
        if args.command == "codec-server":
            return run_codec_server(args, settings)
        handler: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]] = (
            getattr(args, "handler", None) or _ASYNC_COMMANDS[args.command]
        )
        return asyncio.run(handler(args, settings))
    except (CLIError, ConfigError) as e:
        print(f"agentic-loop: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("agentic-loop: interrupted", file=sys.stderr)
        return 130


def entrypoint() -> NoReturn:
    """The console script. Once the command is done, the process exits without running the
    interpreter's finalization: the SDK's Rust threads can still call into Python while it
    finalizes and abort the process (temporalio/sdk-python#300), turning a good run into a
    crash at exit."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entrypoint()
