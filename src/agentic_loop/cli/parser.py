"""The command line's grammar. Each command names its handler as "module:function" of this
package, imported only when that command runs, so `--help` and each command load only what
they use."""

from __future__ import annotations

import argparse
from typing import Any

from agentic_loop.config import DEFAULT_GOAL
from agentic_loop.types import AgentInput

CODEC_SERVER_HOST = "127.0.0.1"
CODEC_SERVER_PORT = 8089


def _tools_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tools",
        action="append",
        metavar="MODULE[:ATTR]",
        help="serve the tools of this module (its TOOLS, or every @tool it defines), or of "
        "MODULE:ATTR (a tool, a list of tools or a registry); repeatable, added to the built-ins, "
        "installed agentic_loop.tools entry points and AGENTIC_LOOP_TOOLS",
    )


def _goal_options(parser: argparse.ArgumentParser) -> None:
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


def _local_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that run a worker in this process (`run`, `chat`)."""
    _tools_option(parser)
    parser.add_argument(
        "--db-filename", default=None, help="keep the embedded server's history in this SQLite file"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentic-loop", description="A durable LLM agent loop on Temporal."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: str, help_text: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        made.set_defaults(handler=handler)
        return made

    run = command("run", "agents:cmd_run", "run an agent to its goal and print the answer")
    run.add_argument("goal", nargs="?", default=DEFAULT_GOAL, help="what the agent should do")
    _goal_options(run)
    _local_options(run)
    run.add_argument(
        "--no-worker",
        action="store_true",
        help="do not run a worker in this process (use the server's workers)",
    )

    chat = command("chat", "chat:cmd_chat", "talk with an agent: each line you type is a message")
    chat.add_argument("goal", nargs="?", default=None, help="the first message")
    _goal_options(chat)
    _local_options(chat)

    start = command("start", "agents:cmd_start", "start an agent and print its workflow id")
    start.add_argument("goal", help="what the agent should do")
    _goal_options(start)
    start.add_argument(
        "--chat", action="store_true", help="keep the conversation open for more messages"
    )

    result = command("result", "agents:cmd_result", "wait for an agent's result and print it")
    result.add_argument("workflow_id")
    result.add_argument("--json", action="store_true", help="print only the result, as JSON")

    def with_id(name: str, handler: str, help_text: str) -> argparse.ArgumentParser:
        made = command(name, handler, help_text)
        made.add_argument("workflow_id")
        made.add_argument("--json", action="store_true", help="print JSON")
        return made

    with_id("status", "conversation:cmd_status", "show where a running agent stands")
    send = with_id(
        "send", "conversation:cmd_send", "send a message to a conversation and print the answer"
    )
    send.add_argument("message")
    send.add_argument("--no-wait", action="store_true", help="return once it is accepted")
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        decide = with_id(
            name, f"conversation:cmd_{name}", f"{verb} a tool call waiting for approval"
        )
        decide.add_argument(
            "call_id", nargs="?", default=None, help="the call (default: every call waiting)"
        )
        decide.add_argument("--reason", default="", help="why; the LLM is told")
    with_id(
        "end", "conversation:cmd_end", "end a conversation once its current request is answered"
    )
    with_id(
        "cancel", "conversation:cmd_cancel", "cancel an agent now (the call in flight is stopped)"
    )
    transcript = with_id(
        "transcript", "conversation:cmd_transcript", "print a conversation's messages"
    )
    transcript.add_argument("--from", dest="start", type=int, default=0)
    transcript.add_argument("--to", dest="end", type=int, default=None)

    worker = command("worker", "serve:cmd_worker", "run a worker for the agent loop until Ctrl-C")
    _tools_option(worker)
    tools = command("tools", "tools:cmd_tools", "list the tools a worker would serve")
    _tools_option(tools)
    tools.add_argument("--json", action="store_true", help="one JSON object per tool")

    codec = command(
        "codec-server",
        "serve:cmd_codec_server",
        "decrypt encrypted payloads for the Temporal Web UI and CLI",
    )
    codec.add_argument("--host", default=CODEC_SERVER_HOST, help="address to listen on")
    codec.add_argument("--port", type=int, default=CODEC_SERVER_PORT)
    codec.add_argument(
        "--no-auth",
        action="store_true",
        help="accept calls without the bearer token (loopback addresses only)",
    )

    rep = command(
        "replay",
        "replay:cmd_replay",
        "replay exported histories against this code (ok / diverged per file)",
    )
    rep.add_argument("paths", nargs="+", metavar="PATH", help="history JSON files or directories")
    rep.add_argument("--json", action="store_true", help="one JSON object per file")

    srv = command("server", "serve:cmd_server", "run the Temporal dev server with its Web UI")
    srv.add_argument("--ip", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=7233)
    srv.add_argument("--ui-port", type=int, default=8233)
    srv.add_argument(
        "--db-filename",
        default=None,
        help="SQLite file for history (default: AGENTIC_LOOP_DB or the user data dir)",
    )
    return parser


def handler_of(args: argparse.Namespace) -> Any:
    """The function that runs the parsed command."""
    import importlib

    module, _, function = str(args.handler).partition(":")
    return getattr(importlib.import_module(f"agentic_loop.cli.{module}"), function)
