"""Metrics: the SDK runtime's Prometheus endpoint, which also serves our own counters."""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from agentic_loop.config import ConfigError, Settings

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
