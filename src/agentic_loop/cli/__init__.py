"""The `agentic-loop` command: one module per group of commands, the grammar in parser.py."""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from agentic_loop.cli.parser import build_parser, handler_of
from agentic_loop.config import ConfigError, Settings

__all__ = ["build_parser", "entrypoint", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from agentic_loop.cli.common import CLIError, configure_command_logging

        settings = Settings.from_env()
        configure_command_logging(settings)
        handler = handler_of(args)
        if inspect.iscoroutinefunction(handler):
            code: int = asyncio.run(handler(args, settings))
        else:
            code = handler(args, settings)
        return code
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
