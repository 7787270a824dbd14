"""Connecting to any Temporal: the dev server, a self-hosted cluster with TLS, or Temporal
Cloud with an API key or mTLS.

Where to connect and how comes from the SDK's environment configuration
(`temporalio.envconfig`): a profile of temporal.toml (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE),
overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* and
TEMPORAL_GRPC_META_*, with the SDK's own rules (an API key turns TLS on, for instance). On top
of that every client of this program gets AgentLoopPlugin (temporal/plugin.py), or, for a
client that never runs a worker, what the plugin gives a client and nothing more.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig
from temporalio.service import RPCError

from agentic_loop.config import DEFAULT_NAMESPACE, ConfigError, Settings

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from agentic_loop.temporal.plugin import AgentLoopPlugin

DEFAULT_ADDRESS = "localhost:7233"
CONNECT_TIMEOUT_SECONDS = 10.0

# The settings each client_only client was connected with: what reading one of its closed runs
# back (a replay, transcript/closed_runs.py) makes its AgentLoopPlugin of, when it must.
_client_only: weakref.WeakKeyDictionary[Client, Settings] = weakref.WeakKeyDictionary()


def client_only_settings(client: Client) -> Settings | None:
    """The settings `client` was connected with `client_only`, or None if it was not."""
    return _client_only.get(client)


class TemporalUnreachable(ConfigError):
    """No answer from the configured Temporal: the message names the address."""


def _profile(settings: Settings) -> ClientConfigProfile:
    env = dict(settings.temporal_env)
    try:
        return ClientConfigProfile.load(profile=env.get("TEMPORAL_PROFILE"), override_env_vars=env)
    except RuntimeError as e:
        # The SDK's ConfigError: a missing profile, a malformed temporal.toml, ...
        raise ConfigError(f"the Temporal client configuration cannot be loaded: {e}") from e


def configured_address(settings: Settings) -> str | None:
    """The address TEMPORAL_ADDRESS or the temporal.toml profile gives; None if neither does
    (then `agentic-loop run` starts an embedded server)."""
    return _profile(settings).address or None


def client_connect_config(
    settings: Settings,
    *,
    address_override: str | None = None,
    namespace_override: str | None = None,
) -> ClientConnectConfig:
    """Keyword arguments for `Client.connect` (target_host, namespace, api_key, tls,
    rpc_metadata), from the envconfig profile; the overrides win, then the profile, then
    localhost:7233 and the default namespace."""
    profile = _profile(settings)
    try:
        config = profile.to_client_connect_config()
    except OSError as e:
        # TLS files are read here: name the one that is missing.
        raise ConfigError(f"a TLS file of the Temporal configuration cannot be read: {e}") from e
    config["target_host"] = address_override or config.get("target_host") or DEFAULT_ADDRESS
    config["namespace"] = (
        namespace_override or config.get("namespace") or settings.namespace or DEFAULT_NAMESPACE
    )
    return config


def describe(config: ClientConnectConfig) -> str:
    """Where a config connects, for messages: address, namespace, and how it authenticates."""
    tls = config.get("tls")
    auth = "API key" if config.get("api_key") else None
    if not isinstance(tls, bool) and tls is not None and tls.client_cert:
        auth = "mTLS"
    security = "TLS" if tls else "plaintext"
    how = f"{security}, {auth}" if auth else security
    return f"{config['target_host']} (namespace {config['namespace']!r}, {how})"


async def connect_client(
    settings: Settings | None = None,
    *,
    address_override: str | None = None,
    namespace_override: str | None = None,
    tracer_provider: TracerProvider | None = None,
    timeout_seconds: float = CONNECT_TIMEOUT_SECONDS,
    plugin: AgentLoopPlugin | None = None,
    embedded_option: bool = False,
    client_only: bool = False,
) -> Client:
    """A client of the configured Temporal, with `plugin` (an AgentLoopPlugin of `settings`
    unless given: converter, interceptors, runtime, and for its workers the workflow and
    activities); or, within `timeout_seconds`, TemporalUnreachable naming the address (the SDK
    alone would keep retrying). `embedded_option`: the caller starts an embedded server when
    no address is configured, so the message may suggest unsetting it.

    `client_only` (without `plugin`): the plugin's converter, client interceptors and runtime,
    without the plugin, for a process that starts, queries, signals and updates agents but runs
    no worker on this client (its workers would lack the workflow, the activities and the
    sandbox settings). It spares the import of the worker side, some 0.2 s of CPU, which a
    command such as `status` would otherwise spend on it; reading a closed run's transcript
    back, which replays it, makes a plugin of the same settings then (and imports it then)."""
    if client_only and plugin is None:
        settings = settings if settings is not None else Settings.from_env()
    else:
        if plugin is None:
            from agentic_loop.temporal.plugin import AgentLoopPlugin

            plugin = AgentLoopPlugin(settings, tracer_provider=tracer_provider)
        settings = plugin.settings
    config = client_connect_config(
        settings, address_override=address_override, namespace_override=namespace_override
    )
    try:
        if plugin is not None:
            return await asyncio.wait_for(
                Client.connect(**config, plugins=[plugin]), timeout=timeout_seconds
            )
        client = await asyncio.wait_for(
            Client.connect(**config, **_client_side(settings, tracer_provider)),
            timeout=timeout_seconds,
        )
        _client_only[client] = settings
        return client
    except (TimeoutError, RuntimeError, OSError, RPCError) as e:
        reason = str(e).splitlines()[0] if str(e) else f"no answer in {timeout_seconds:g} s"
        # Unsetting the variable helps only where it is set and the caller (`run`, `chat`)
        # would then start a server of its own; anywhere else it sends a person the wrong way.
        embedded = (
            ", or unset TEMPORAL_ADDRESS to use an embedded server"
            if embedded_option and settings.temporal_address
            else ""
        )
        raise TemporalUnreachable(
            f"cannot reach Temporal at {describe(config)}: {reason}. Check TEMPORAL_ADDRESS "
            f"(or the temporal.toml profile) or start a server with `agentic-loop server`"
            f"{embedded}."
        ) from e


def _client_side(settings: Settings, tracer_provider: TracerProvider | None) -> dict[str, Any]:
    """What AgentLoopPlugin gives a client it connects (its configure_client and
    connect_service_client), made by the same functions."""
    from agentic_loop.telemetry.metrics import metrics_runtime
    from agentic_loop.telemetry.tracing import client_interceptors
    from agentic_loop.temporal.converter import data_converter

    options: dict[str, Any] = {
        "data_converter": data_converter(settings),
        "interceptors": client_interceptors(settings, tracer_provider),
    }
    runtime = metrics_runtime(settings)
    if runtime is not None:
        options["runtime"] = runtime
    return options
