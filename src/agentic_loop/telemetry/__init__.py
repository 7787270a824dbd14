"""Logs, traces and metrics of a worker or client, configured from Settings: one module per
backend, and the interceptor that feeds them from every LLM call, tool call and agent run."""

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
