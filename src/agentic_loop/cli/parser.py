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
WORKFLOW_ID_HELP = "the agent's workflow id, as `start` or `run` printed it"


def _tools_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tools",
        action="append",
        metavar="MODULE[:ATTR]",
        help="serve the tools of this module (its TOOLS, or every @tool it defines), or of "
        "MODULE:ATTR (a tool, a list of tools or a registry); repeatable, added to the built-ins, "
        "installed agentic_loop.tools entry points and AGENTIC_LOOP_TOOLS",
    )


def _mcp_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mcp",
        metavar="FILE",
        default=None,
        help='also serve the tools of the MCP servers in this JSON file ({"mcpServers": ...}, '
        "as Claude Desktop's; docs/mcp.md); default: AGENTIC_LOOP_MCP",
    )


def json_option(parser: argparse.ArgumentParser, what: str) -> None:
    """--json, described alike everywhere: what the command prints instead of text."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON instead of text")


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


def _local_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that run a worker in this process (`run`, `chat`)."""
    _tools_option(parser)
    _mcp_option(parser)
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
        made.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            help="show the SDK's and the in-process worker's warnings on stderr (by default "
            "they go to AGENTIC_LOOP_LOG_FILE, the user log directory's agentic-loop.log)",
        )
        return made

    run = command("run", "agents:cmd_run", "run an agent to its goal and print the answer")
    run.add_argument("goal", nargs="?", default=DEFAULT_GOAL, help="what the agent should do")
    _goal_options(run)
    json_option(run, "only the result (the steps are not shown)")
    _local_options(run)
    run.add_argument(
        "--no-worker",
        action="store_true",
        help="do not run a worker in this process (use the server's workers)",
    )

    chat = command(
        "chat",
        "chat:cmd_chat",
        "talk with an agent: each line you type is a message; /end, end of input or Ctrl-C at "
        "the prompt ends the conversation",
    )
    chat.add_argument(
        "goal", nargs="?", default=None, help="the first message (default: asked at the prompt)"
    )
    _goal_options(chat)
    json_option(chat, "only the result on stdout (the conversation goes to stderr)")
    _local_options(chat)

    start = command("start", "agents:cmd_start", "start an agent and print its workflow id")
    start.add_argument("goal", help="what the agent should do")
    _goal_options(start)
    json_option(start, "the workflow id")
    start.add_argument(
        "--chat", action="store_true", help="keep the conversation open for more messages"
    )

    result = command("result", "agents:cmd_result", "wait for an agent's result and print it")
    result.add_argument("workflow_id", help=WORKFLOW_ID_HELP)
    json_option(result, "the result")

    def with_id(name: str, handler: str, help_text: str, prints: str) -> argparse.ArgumentParser:
        made = command(name, handler, help_text)
        made.add_argument("workflow_id", help=WORKFLOW_ID_HELP)
        json_option(made, prints)
        return made

    with_id("status", "conversation:cmd_status", "show where a running agent stands", "the status")
    send = with_id(
        "send",
        "conversation:cmd_send",
        "send a message to a conversation and print the answer",
        "the reply",
    )
    send.add_argument("message", help="the message, as one argument (quote it)")
    send.add_argument("--no-wait", action="store_true", help="return once it is accepted")
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        decide = with_id(
            name,
            f"conversation:cmd_{name}",
            f"{verb} a tool call waiting for approval",
            f"the ids of the calls {verb}d",
        )
        decide.add_argument(
            "call_id", nargs="?", default=None, help="the call (default: every call waiting)"
        )
        decide.add_argument("--reason", default="", help="why; the LLM is told")
    with_id(
        "end",
        "conversation:cmd_end",
        "end a conversation once its current request is answered",
        "the workflow id",
    )
    with_id(
        "cancel",
        "conversation:cmd_cancel",
        "cancel a running agent now (the call in flight is stopped)",
        "the workflow id",
    )
    transcript = with_id(
        "transcript",
        "conversation:cmd_transcript",
        "print a conversation's messages, each with its index",
        "one object per message",
    )
    transcript.add_argument(
        "--from",
        dest="start",
        type=int,
        default=0,
        metavar="N",
        help="the first message's index; negative counts from the end, -3 for the last three "
        "(default %(default)s: the first)",
    )
    transcript.add_argument(
        "--to",
        dest="end",
        type=int,
        default=None,
        metavar="N",
        help="stop before this index; negative counts from the end (default: after the last)",
    )
    transcript.add_argument(
        "--child",
        metavar="CALL_ID",
        default=None,
        help="the transcript of the sub-agent that answered (or is answering) this tool call "
        "instead: its own workflow, as `status` lists it",
    )

    worker = command("worker", "serve:cmd_worker", "run a worker for the agent loop until Ctrl-C")
    _tools_option(worker)
    _mcp_option(worker)
    tools = command("tools", "tools:cmd_tools", "list the tools a worker would serve")
    _tools_option(tools)
    _mcp_option(tools)
    json_option(tools, "one object per tool")

    codec = command(
        "codec-server",
        "serve:cmd_codec_server",
        "decrypt encrypted payloads for the Temporal Web UI and CLI",
    )
    codec.add_argument(
        "--host", default=CODEC_SERVER_HOST, help="address to listen on (default %(default)s)"
    )
    codec.add_argument(
        "--port", type=int, default=CODEC_SERVER_PORT, help="port (default %(default)s)"
    )
    codec.add_argument(
        "--no-auth",
        action="store_true",
        help="accept calls without the bearer token (loopback addresses only)",
    )

    rep = command(
        "replay",
        "replay:cmd_replay",
        "replay histories against this code, exported files or the server's runs (ok / "
        "diverged per history)",
    )
    rep.add_argument("paths", nargs="*", metavar="PATH", help="history JSON files or directories")
    rep.add_argument("--json", action="store_true", help="one JSON object per history")
    rep.add_argument(
        "--from-server",
        action="store_true",
        help="replay the runs of the configured Temporal server (TEMPORAL_ADDRESS, ...): "
        "running ones on their history so far, and every run of a continue-as-new chain",
    )
    rep.add_argument(
        "--query",
        metavar="Q",
        default=None,
        help="with --from-server: the visibility query choosing the runs (default: "
        'WorkflowType="AgentWorkflow")',
    )
    rep.add_argument(
        "--limit", type=int, metavar="N", default=None, help="with --from-server: at most N runs"
    )
    rep.add_argument(
        "--save",
        metavar="DIR",
        default=None,
        help="with --from-server: also write each history to DIR/<workflow_id>_<run_id>.json "
        "(replacing an older copy), payloads as the server keeps them: encrypted stays encrypted",
    )
    rep.add_argument(
        "--decode",
        action="store_true",
        help="with --save: decode every payload with AGENTIC_LOOP_CODEC_KEYS before writing "
        "(the files then hold the conversations in plain text)",
    )

    rec = command(
        "record",
        "record:cmd_record",
        "record the histories of scripted runs with your tools, to replay against later code",
    )
    rec.add_argument(
        "scripts",
        nargs="+",
        metavar="SCRIPT",
        help="a JSON script for the scripted fake LLM (as in fixtures/scripts), with the run's "
        "AgentInput fields under an optional 'input' (goal: the script's description)",
    )
    rec.add_argument(
        "--out", required=True, metavar="DIR", help="where <scenario>.json and index.json go"
    )
    rec.add_argument(
        "--overwrite",
        action="store_true",
        help="replace histories that exist (never to make a failing replay pass)",
    )
    rec.add_argument(
        "--timeout",
        dest="run_timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up on a run that has not ended after this long (default %(default)g)",
    )
    rec.add_argument("--json", action="store_true", help="one JSON object per file written")
    _tools_option(rec)

    srv = command("server", "serve:cmd_server", "run the Temporal dev server with its Web UI")
    srv.add_argument(
        "--host",
        "--ip",
        dest="ip",
        metavar="HOST",
        default="127.0.0.1",
        help="address to listen on, as for codec-server (--ip is the dev server's name for it; "
        "default %(default)s, this machine only)",
    )
    srv.add_argument(
        "--port", type=int, default=7233, help="the frontend's port (default %(default)s)"
    )
    srv.add_argument(
        "--ui-port", type=int, default=8233, help="the Web UI's port (default %(default)s)"
    )
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
