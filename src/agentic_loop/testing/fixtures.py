"""The kit's pytest fixtures (registered by pytest_plugin when pytest-asyncio is installed).

Nothing heavy is imported here: pytest loads this module in every project that has
agentic-loop installed, so Temporal is imported by the fixtures, when a test first asks.

One server per test session (`--agent-env`), replaced when a test leaves it unable to skip
time (servers.py); fresh workers and task queues per test (`agents`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

    from agentic_loop.temporal.plugin import AgentLoopPlugin
    from agentic_loop.testing.agents import Agents, RunAgent
    from agentic_loop.testing.servers import AgentServers


@pytest.fixture(scope="session")
def agent_plugin() -> AgentLoopPlugin:
    """The AgentLoopPlugin of the session's client and every worker and replay of the kit.
    Override it in your conftest.py (session-scoped) with your tools, provider and settings:
    `AgentLoopPlugin(Settings(codec_keys=...), tools=TOOLS)`. By default `Settings()`, not
    `Settings.from_env()`: the tester's environment must not change what a test runs."""
    from agentic_loop.config import Settings
    from agentic_loop.temporal.plugin import AgentLoopPlugin

    return AgentLoopPlugin(Settings())


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def agent_servers(
    request: pytest.FixtureRequest, agent_plugin: AgentLoopPlugin
) -> AsyncIterator[AgentServers]:
    """The session's server, of the kind `--agent-env` names, started when first needed."""
    from agentic_loop.testing.servers import AgentServers

    servers = AgentServers(agent_plugin, request.config.getoption("agent_env"))
    yield servers
    await servers.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def agent_env(
    request: pytest.FixtureRequest, agent_servers: AgentServers
) -> AsyncIterator[WorkflowEnvironment]:
    """The session's server, its client connected with `agent_plugin` (a dev server of the
    session's, for a test marked `dev_server` in a time-skipping session). After the test it
    is checked, and replaced if the test left it unable to skip time (a workflow cancelled or
    terminated while an activity ran)."""
    from agentic_loop.testing.pytest_plugin import DEV_SERVER_MARK

    dev = request.node.get_closest_marker(DEV_SERVER_MARK) is not None
    env = await agent_servers.get(dev=dev)
    yield env
    await agent_servers.check(env)


@pytest_asyncio.fixture(loop_scope="session")
async def agents(agent_env: WorkflowEnvironment) -> AsyncIterator[Agents]:
    """Start agents on fresh workers and task queues: `await agents.start(llm, AgentInput(...))`
    or `await agents.run(...)`. Workers run until the test ends, then stop; agents still open
    are then terminated; a worker that died fails the test."""
    from agentic_loop.testing.agents import Agents

    async with Agents(agent_env) as started:
        yield started


@pytest.fixture
def run_agent(agents: Agents) -> RunAgent:
    """Run one agent to its end: `run = await run_agent(llm, AgentInput(goal=...))`, with
    `run.result`, `run.transcript`, `run.history` and the assertions of AgentRun."""
    return agents.run
