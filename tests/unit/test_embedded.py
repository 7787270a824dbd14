"""The embedded server module, which the command imports before the SDK."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from agentic_loop.temporal import dev_server
from agentic_loop.temporal.embedded import DEV_SERVER_SEARCH_ATTRIBUTES, READY_SECONDS
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.workflow.visibility import AGENT_STATUS
from support import modules_loaded_by


def test_the_dev_server_registers_the_search_attribute_the_workflow_keeps() -> None:
    """The embedded server registers AgentStatus under the very name (and kind) the
    workflow upserts, or every agent's start there would leave it out."""
    assert [f"{AGENT_STATUS.name}=Keyword"] == DEV_SERVER_SEARCH_ATTRIBUTES


def test_the_module_imports_nothing_of_the_sdk() -> None:
    """Importing it loads no temporalio module: it starts the server while the SDK imports."""
    assert modules_loaded_by("agentic_loop.temporal.embedded", ("temporalio",)) == []


async def test_both_sdk_started_servers_get_the_embedded_servers_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """start_dev_server and start_time_skipping give the SDK the embedded server's 30 s to
    answer, not its own 5 s default, which a loaded CI machine overran."""
    handed: dict[str, object] = {}

    async def record(**kwargs: object) -> str:
        handed.update(kwargs)
        return "env"

    monkeypatch.setattr(WorkflowEnvironment, "start_local", record)
    monkeypatch.setattr(WorkflowEnvironment, "start_time_skipping", record)
    plugin = AgentLoopPlugin()
    await dev_server.start_dev_server(plugin=plugin)
    assert handed["dev_server_startup_timeout"] == timedelta(seconds=READY_SECONDS)
    handed.clear()
    await dev_server.start_time_skipping(plugin)
    assert handed["test_server_startup_timeout"] == timedelta(seconds=READY_SECONDS)
    assert READY_SECONDS >= 30
