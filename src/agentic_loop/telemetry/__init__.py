"""Logs, traces and metrics of a worker or client, configured from Settings: one module per
backend, and the interceptor that feeds them from every LLM call, tool call and agent run.

Names are imported when first used: every command configures its logs from here, and one
that only talks to a server must not import the interceptor, which brings the worker side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentic_loop.lazy import lazy_attributes

_WHERE = {
    "AgentInterceptor": "agentic_loop.telemetry.interceptor",
    "JsonFormatter": "agentic_loop.telemetry.logs",
    "KeyValueFormatter": "agentic_loop.telemetry.logs",
    "RedactSecrets": "agentic_loop.telemetry.logs",
    "configure_logging": "agentic_loop.telemetry.logs",
    "install_log_handler": "agentic_loop.telemetry.logs",
    "log_context": "agentic_loop.telemetry.logs",
    "secrets_of": "agentic_loop.telemetry.logs",
    "metrics_runtime": "agentic_loop.telemetry.metrics",
    "configure_tracing": "agentic_loop.telemetry.tracing",
    "interceptors": "agentic_loop.telemetry.tracing",
    "tracing_mode": "agentic_loop.telemetry.tracing",
}

__all__ = [
    "AgentInterceptor",
    "JsonFormatter",
    "KeyValueFormatter",
    "RedactSecrets",
    "configure_logging",
    "configure_tracing",
    "install_log_handler",
    "interceptors",
    "log_context",
    "metrics_runtime",
    "secrets_of",
    "tracing_mode",
]

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals(), __all__)

if TYPE_CHECKING:
    from agentic_loop.telemetry.interceptor import AgentInterceptor
    from agentic_loop.telemetry.logs import (
        JsonFormatter,
        KeyValueFormatter,
        RedactSecrets,
        configure_logging,
        install_log_handler,
        log_context,
        secrets_of,
    )
    from agentic_loop.telemetry.metrics import metrics_runtime
    from agentic_loop.telemetry.tracing import configure_tracing, interceptors, tracing_mode
