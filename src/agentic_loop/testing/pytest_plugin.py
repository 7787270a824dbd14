"""agentic-loop's pytest plugin, registered through the `pytest11` entry point: installing
agentic-loop is enough to have its fixtures (fixtures.py) and the `--agent-env` option.

pytest imports this module in every project that has agentic-loop installed, so it imports
nothing but pytest; Temporal is imported by the fixtures, when a test first asks for one.
`-p no:agentic_loop` turns it off.
"""

from __future__ import annotations

import pytest

from agentic_loop.testing.servers import LOCAL, TIME_SKIPPING

TIME_SKIPPING_MARK = "time_skipping"
DEV_SERVER_MARK = "dev_server"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentic_loop", "agentic-loop test kit")
    group.addoption(
        "--agent-env",
        dest="agent_env",
        default=TIME_SKIPPING,
        metavar=f"{TIME_SKIPPING}|{LOCAL}|ADDRESS",
        help=(
            "where the agent fixtures run agents: the time-skipping test server (default; "
            "retries and timeouts take no time), the local dev server, or a running Temporal "
            "server at HOST:PORT"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{TIME_SKIPPING_MARK}: the test waits out long timers or back-offs, so it runs only "
        f"on --agent-env={TIME_SKIPPING} (skipped elsewhere, where it would take that long)",
    )
    config.addinivalue_line(
        "markers",
        f"{DEV_SERVER_MARK}: the test's agents continue as new while it talks to them, so under "
        f"--agent-env={TIME_SKIPPING} it runs on a local dev server of the session instead "
        "(the test server's continue-as-new is not atomic: agentic_loop/testing/servers.py)",
    )
    # pytest-asyncio's plugin is named "asyncio"; absent (not installed, or `-p no:asyncio`),
    # async fixtures would never run, so the fixtures say what to install instead.
    if config.pluginmanager.has_plugin("asyncio"):
        from agentic_loop.testing import fixtures

        config.pluginmanager.register(fixtures, "agentic_loop.fixtures")
    else:
        config.pluginmanager.register(NeedsPytestAsyncio(), "agentic_loop.fixtures")


def pytest_runtest_setup(item: pytest.Item) -> None:
    where = item.config.getoption("agent_env")
    time_skipping = item.get_closest_marker(TIME_SKIPPING_MARK) is not None
    if time_skipping and item.get_closest_marker(DEV_SERVER_MARK) is not None:
        pytest.fail(
            f"{item.name} is marked both {TIME_SKIPPING_MARK} and {DEV_SERVER_MARK}: a dev server "
            "waits in real time; keep one of the two",
            pytrace=False,
        )
    if where != TIME_SKIPPING and time_skipping:
        pytest.skip(f"needs the time-skipping server; --agent-env={where} waits in real time")


class NeedsPytestAsyncio:
    """Stands in for the fixtures where pytest-asyncio is missing: a test that asks for one is
    told what to install, and other projects' tests are left alone."""

    @pytest.fixture(name="agent_plugin", scope="session")
    def agent_plugin(self) -> None:
        _fail("agent_plugin")

    @pytest.fixture(name="agent_env")
    def agent_env(self) -> None:
        _fail("agent_env")

    @pytest.fixture(name="agents")
    def agents(self) -> None:
        _fail("agents")

    @pytest.fixture(name="run_agent")
    def run_agent(self) -> None:
        _fail("run_agent")


def _fail(fixture: str) -> None:
    pytest.fail(
        f"the {fixture} fixture of agentic_loop.testing needs pytest-asyncio: pip install "
        "pytest-asyncio (and do not turn it off with -p no:asyncio), then set "
        'asyncio_mode = "auto" and both asyncio_default_fixture_loop_scope and '
        'asyncio_default_test_loop_scope to "session"',
        pytrace=False,
    )
