"""Traces: OpenTelemetry through the SDK's TracingInterceptor, plus our own spans for each LLM
call and tool call (interceptor.py). Needs `pip install agentic-loop[otel]`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import temporalio.client

from agentic_loop.config import ConfigError, Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

TRACING_MODES = ("otlp", "console", "off")
TRACER_NAME = "agentic_loop"


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
    """The client interceptors (applied by the client's workers too), outermost first: those
    acting on a client's calls, then ours, which acts in workers only."""
    # Imported here: the interceptor brings the worker side, which a client alone never needs.
    from agentic_loop.telemetry.interceptor import AgentInterceptor

    tracer = _tracer(settings, tracer_provider)
    return [*_client_side(tracer), AgentInterceptor(tracer)]


def client_interceptors(
    settings: Settings, tracer_provider: TracerProvider | None = None
) -> list[temporalio.client.Interceptor]:
    """Those of `interceptors` that act on a client's own calls: the SDK's tracing one, when
    tracing is on (AgentInterceptor intercepts activities and workflows, and passes a
    client's calls through untouched)."""
    return _client_side(_tracer(settings, tracer_provider))


def _tracer(settings: Settings, tracer_provider: TracerProvider | None) -> Tracer | None:
    provider = tracer_provider if tracer_provider is not None else configure_tracing(settings)
    return provider.get_tracer(TRACER_NAME) if provider is not None else None


def _client_side(tracer: Tracer | None) -> list[temporalio.client.Interceptor]:
    if tracer is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    # Workflows started by the UI, a schedule or an untraced client get spans too.
    return [TracingInterceptor(tracer, always_create_workflow_spans=True)]
