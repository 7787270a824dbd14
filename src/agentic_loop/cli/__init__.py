"""The `agentic-loop` command: one module per group of commands, the grammar in parser.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

# Commands that start an embedded server unless a Temporal server is configured.
EMBEDDED_SERVER = frozenset({"run", "chat"})
# Commands that keep running and log to stderr, as services do: their logs are their output.
LONG_RUNNING = frozenset({"worker", "server", "codec-server"})

if TYPE_CHECKING:
    import argparse

    from agentic_loop.config import Settings

__all__ = ["build_parser", "entrypoint", "main"]

# The exit code of a process that wrote to a pipe its reader had closed (128 + SIGPIPE), as
# shells report for any command ended that way.
BROKEN_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    from agentic_loop.cli.parser import build_parser as build

    return build()


def main(argv: Sequence[str] | None = None) -> int:
    # Everything, imports included, runs inside these handlers: Ctrl-C a moment after the
    # start, or a reader that stops reading (`| head`), must not end in a traceback.
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("agentic-loop: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    from agentic_loop.cli.parser import build_parser
    from agentic_loop.config import ConfigError, Settings

    # Parsed first: `--help` and a usage error must not wait for the SDK to import (~0.5 s).
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"agentic-loop: error: {e}", file=sys.stderr)
        return 2
    early = args.command in EMBEDDED_SERVER and not settings.temporal_address
    if early:
        # Started now, it gets ready while the SDK imports (the command may still find a
        # temporal.toml profile naming a server, and then stops this one unused).
        from agentic_loop.temporal import embedded

        embedded.start_early(settings.namespace, getattr(args, "db_filename", None))
    try:
        return _run(args, settings)
    finally:
        if early:
            embedded.stop_early()


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import inspect

    from agentic_loop.cli.common import CLIError, explain
    from agentic_loop.cli.logs import configure_command_logging
    from agentic_loop.cli.parser import handler_of
    from agentic_loop.config import ConfigError

    try:
        configure_command_logging(settings, verbose=args.verbose or args.command in LONG_RUNNING)
        handler = handler_of(args)
        if inspect.iscoroutinefunction(handler):
            code: int = asyncio.run(handler(args, settings))
        else:
            code = handler(args, settings)
        return code
    except (CLIError, ConfigError) as e:
        print(f"agentic-loop: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        message = explain(e, settings)
        if message is None:
            raise
        print(f"agentic-loop: error: {message}", file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for the closed pipe would otherwise
    fail again, noisily, when it is flushed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def entrypoint() -> NoReturn:
    """The console script. Once the command is done, the process exits without running the
    interpreter's finalization: the SDK's Rust threads can still call into Python while it
    finalizes and abort the process (temporalio/sdk-python#300), turning a good run into a
    crash at exit."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = BROKEN_PIPE
    except KeyboardInterrupt:
        code = 130
    sys.stderr.flush()
    os._exit(code)
