"""Where a one-off command's log records go: not to the person at the terminal, who sees the
steps and the live line, but to a log file (or, with `--verbose`, to stderr, a line each)."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from agentic_loop.config import Settings
from agentic_loop.telemetry import install_log_handler


class _OneLineFormatter(logging.Formatter):
    """Warnings of the SDK (a retried LLM call, say) as one line each, without a traceback:
    the command's own output says what happened, and tracebacks are for the worker's logs."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def configure_command_logging(settings: Settings, *, verbose: bool = False) -> None:
    """Where a one-off command's log records go. The SDK's and the in-process worker's
    warnings (an LLM call retried, an activity completing late after a cancel) are not for
    the person at the terminal, who sees the steps and a live line instead: they go to
    settings.log_file, or with `verbose` to stderr as one line each. Core's own console
    lines (Rust, printed past Python's logging) are kept to errors unless `verbose`."""
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLineFormatter("agentic-loop: %(levelname)s: %(message)s"))
    else:
        handler = _log_file_handler(settings.log_file)
        _quiet_core()
    install_log_handler(handler, settings, logging.WARNING)


def _log_file_handler(path: Path) -> logging.Handler:
    """Appends to `path`, made only when a record comes; where that cannot be, nothing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return logging.NullHandler()
    handler = logging.FileHandler(path, delay=True, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def _quiet_core() -> None:
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    quiet = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    with contextlib.suppress(RuntimeError):  # a runtime already made keeps its own
        Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=quiet)))
