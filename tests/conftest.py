"""Shared fixtures: the kit's (agentic_loop.testing, a pytest plugin once agentic-loop is
installed), under the names the suite has always used.

`agent_plugin` is the kit's default, `AgentLoopPlugin(Settings())`; `run_agent` is the kit's,
and runs on the `agents` below.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from agentic_loop.testing import Agents
from agentic_loop.tools import default_registry

_HOME_DIRS = ("XDG_STATE_HOME", "XDG_DATA_HOME")
_SCRATCH = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """The suite's own user directories, for this process and every command it starts: a
    command's default log file (the user log directory's agentic-loop.log) and a server's
    default database would otherwise be the real ones of whoever runs the tests."""
    scratch = tempfile.mkdtemp(prefix="agentic-loop-tests-")
    config.stash[_SCRATCH] = scratch
    for name in _HOME_DIRS:
        os.environ[name] = os.path.join(scratch, name.lower())
    # A shell without job control starts a background job (`nox &`, a CI step run so) with
    # SIGINT ignored, and an ignored signal stays ignored in every process it starts: the
    # commands the Ctrl-C tests interrupt would never see their Ctrl-C. Python's own handler
    # here is reset to the default in each child, as it is for a command run at a terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config: pytest.Config) -> None:
    scratch = config.stash.get(_SCRATCH, None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def time_env(agent_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """The session's time-skipping test server (the kit's `agent_env`)."""
    return agent_env


@pytest.fixture
def own_time_env(agent_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """Once a server of the test's own, for tests that cancel a workflow while its activity
    is in flight (which leaves the test server unable to skip time). The kit now replaces a
    server a test left so, after that test (agentic_loop/testing/servers.py), so this is the
    shared one."""
    return agent_env


@pytest_asyncio.fixture(loop_scope="session")
async def agents(agent_env: WorkflowEnvironment) -> AsyncIterator[Agents]:
    """The kit's `agents`, serving the built-in tools unless a test gives its own: the
    plugin's own tools would also be those of every installed `agentic_loop.tools` entry
    point (the example's, in this venv)."""
    async with Agents(agent_env, tools=default_registry()) as started:
        yield started


@pytest.fixture
def own_agents(agents: Agents) -> Agents:
    """Like `agents` (see own_time_env for why no longer on a server of its own)."""
    return agents
