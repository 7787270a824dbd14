"""Logs, traces and metrics of a worker or client, configured from Settings.

- Logs: one line per record, JSON or key=value, carrying the workflow id, run id and step of
  the workflow or activity that logged it; secrets the settings know are masked.
- Traces: OpenTelemetry through the SDK's TracingInterceptor, plus our own spans for each
  LLM call and tool call (instrumentation.py). Needs `pip install agentic-loop[otel]`.
- Metrics: the SDK runtime's Prometheus endpoint, which also serves our own counters.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

import temporalio.activity
import temporalio.client
import temporalio.workflow
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from agentic_loop.config import ConfigError, Settings
from agentic_loop.instrumentation import AgentInterceptor

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

TRACING_MODES = ("otlp", "console", "off")
TRACER_NAME = "agentic_loop"
REDACTED = "[redacted]"
# Record attributes that every LogRecord has: anything else came in through `extra`.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


# --- logs ------------------------------------------------------------------------------------


def secrets_of(settings: Settings) -> list[str]:
    """Values that must never be printed: API keys, tokens, codec keys (as configured)."""
    found = [settings.openai_api_key, settings.codec_token]
    found += [
        value
        for name, value in settings.temporal_env
        if name == "TEMPORAL_API_KEY" or name.endswith("_KEY_DATA")
    ]
    if settings.codec_keys:
        found += [entry.partition(":")[2].strip() for entry in settings.codec_keys.split(",")]
    # Very short values would mask ordinary words; they are no secrets worth the name.
    return sorted({s for s in found if s and len(s) >= 8}, key=len, reverse=True)


class RedactSecrets(logging.Filter):
    """Masks known secret values in every record's final message, whoever logged it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            masked = message
            for secret in self.secrets:
                masked = masked.replace(secret, REDACTED)
            if masked != message:
                record.msg, record.args = masked, None
        return True


def log_context(record: logging.LogRecord) -> dict[str, Any]:
    """workflow_id, run_id, step (and activity fields) of a record, from the SDK's extras."""
    context: dict[str, Any] = {}
    workflow_info = getattr(record, "temporal_workflow", None)
    if isinstance(workflow_info, dict):
        context["workflow_id"] = workflow_info.get("workflow_id")
        context["run_id"] = workflow_info.get("run_id")
    activity_info = getattr(record, "temporal_activity", None)
    if isinstance(activity_info, dict):
        context["workflow_id"] = activity_info.get("workflow_id")
        context["run_id"] = activity_info.get("workflow_run_id")
        context["activity_type"] = activity_info.get("activity_type")
        context["attempt"] = activity_info.get("attempt")
    step = getattr(record, "step", None)
    if step is not None:
        context["step"] = step
    return {k: v for k, v in context.items() if v is not None}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    skip = _STANDARD_ATTRIBUTES | {"temporal_workflow", "temporal_activity", "step"}
    return {k: v for k, v in record.__dict__.items() if k not in skip and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **log_context(record),
            **_extras(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class KeyValueFormatter(logging.Formatter):
    """time level logger message key=value ...: for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {**log_context(record), **_extras(record)}
        pairs = " ".join(f"{k}={_kv(v)}" for k, v in fields.items())
        text = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        text = f"{text} {pairs}" if pairs else text
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _kv(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or " " in text or '"' in text else text


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Route every logger of the process to one structured handler; returns it."""
    if settings.log_format not in ("json", "text"):
        raise ConfigError(f"AGENTIC_LOOP_LOG_FORMAT={settings.log_format!r}: use 'json' or 'text'")
    level = logging.getLevelName(settings.log_level)
    if not isinstance(level, int):
        raise ConfigError(
            f"AGENTIC_LOOP_LOG_LEVEL={settings.log_level!r}: use DEBUG, INFO, WARNING or ERROR"
        )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else KeyValueFormatter())
    install_log_handler(handler, settings, level)
    # The context travels as fields of the record; the SDK would also paste it into the text.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
    return handler


def install_log_handler(handler: logging.Handler, settings: Settings, level: int) -> None:
    """Make `handler` the process's one log handler: every record reaches it once, with the
    known secrets masked. The command line installs a terse one first and a worker replaces
    it with the structured one; two handlers would print every line twice, one unmasked."""
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    root = logging.getLogger()
    # Only handlers of ours are replaced: others (a host application's, pytest's) stay.
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level)


_OURS = "_agentic_loop"


# --- traces ----------------------------------------------------------------------------------


def tracing_mode(settings: Settings) -> str:
    mode = (settings.tracing or ("otlp" if settings.otlp_endpoint else "off")).lower()
    if mode not in TRACING_MODES:
        raise ConfigError(
            f"AGENTIC_LOOP_TRACING={settings.tracing!r}: use one of {', '.join(TRACING_MODES)}"
        )
    return mode


_tracer_provider: TracerProvider | None = None


def configure_tracing(settings: Settings) -> TracerProvider | None:
    """The process's tracer provider for the configured exporter, made once; None when off."""
    global _tracer_provider
    mode = tracing_mode(settings)
    if mode == "off":
        return None
    if _tracer_provider is not None:
        return _tracer_provider
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as e:
        raise ConfigError(
            f"AGENTIC_LOOP_TRACING={mode} needs OpenTelemetry: pip install 'agentic-loop[otel]'"
        ) from e
    provider = SDKTracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if mode == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=_traces_url(settings)))
        )
    trace.set_tracer_provider(provider)
    _tracer_provider = provider
    return provider


def _traces_url(settings: Settings) -> str | None:
    # The generic OTLP endpoint is a base URL; the HTTP exporter, given one, posts to it as is.
    base = settings.otlp_endpoint
    if base is None:
        return None
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def interceptors(
    settings: Settings, tracer_provider: TracerProvider | None = None
) -> list[temporalio.client.Interceptor]:
    """The client interceptors (applied by the client's workers too), outermost first."""
    provider = tracer_provider if tracer_provider is not None else configure_tracing(settings)
    if provider is None:
        return [AgentInterceptor()]
    from temporalio.contrib.opentelemetry import TracingInterceptor

    tracer = provider.get_tracer(TRACER_NAME)
    # Workflows started by the UI, a schedule or an untraced client get spans too.
    tracing = TracingInterceptor(tracer, always_create_workflow_spans=True)
    return [tracing, AgentInterceptor(tracer)]


# --- metrics ---------------------------------------------------------------------------------

_runtimes: dict[str, Runtime] = {}


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A runtime serving Prometheus metrics on settings.metrics_address (one per address and
    process: the endpoint is bound when the runtime is made); None when no address is set."""
    address = settings.metrics_address
    if not address:
        return None
    if address not in _runtimes:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(
                f"AGENTIC_LOOP_METRICS_ADDRESS={address!r}: use HOST:PORT, e.g. 0.0.0.0:9464"
            )
        # Core's own log lines stay on stderr, as with the default runtime: forwarding them
        # to Python calls into the interpreter from Core's threads, which once aborted the
        # process at exit here.
        telemetry = TelemetryConfig(metrics=PrometheusConfig(bind_address=address))
        try:
            _runtimes[address] = Runtime(telemetry=telemetry)
        except Exception as e:
            raise ConfigError(
                f"AGENTIC_LOOP_METRICS_ADDRESS={address}: cannot serve metrics there ({e})"
            ) from e
    return _runtimes[address]
