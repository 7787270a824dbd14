"""The Temporal server a test session runs agents on, and the one hazard of sharing it.

The time-skipping test server jumps over timers and retry back-offs only while nothing holds
its clock: it takes a lock on the clock whenever an activity (or a workflow task) is
scheduled, and gives it back when the activity reports completed, failed or cancelled, or
times out (when the task is completed). The client's own lock is released only while a test
awaits `handle.result()`.

A workflow can close while one of its activities is still running: AgentWorkflow cancelled in
the middle of an LLM call ends `cancelled` at once (the activity hears of it at its next
heartbeat), and a terminated workflow does not wait either. The activity's report then reaches
a closed workflow; the server refuses it ("Completed workflow") before giving the lock back, and
the activity's timeout, when it fires, is refused the same way. The lock is never released, so
from then on the server's clock runs at wall-clock speed: every later test that waits out a
retry back-off or an approval timeout waits in real time. Waiting for the cancelled activity to
finish does not help; once the workflow has closed, nothing can give that lock back.

Two things keep one test from stalling the next:
- At the end of each test, `Agents` lets the workflow tasks of its agents still open complete,
  stops its workers, so that every activity still in flight reports to an open workflow (which
  frees its lock), and only then terminates those agents (so that their timers cannot later
  wake a workflow whose workers are gone: its task would lock the clock for good).
- After each test, `AgentServers.check` asks the server to skip ten minutes; a server that
  cannot do it within a second is shut down, and the next test gets a new one (it starts in a
  fraction of a second). So a test may cancel or terminate a workflow mid-activity.

A second hazard has no such cure: the test server's continue-as-new is not atomic (sdk-java
#1537 shows it). Seen here on a loaded machine, in 3 to 5 runs of 20 of a conversation that
continues as new while the test sends it updates and queries: the server started the new run,
then refused the old run's completing workflow task ("workflow execution already completed")
without recording it. The old run stays open for good, so `handle.result()`, which follows the
runs from the first, never returns, and neither does anything that reads the runs in order.
The new run goes on and completes. A test marked `dev_server` therefore runs on a dev server
(`get(dev=True)`, started when first asked for), whose runs close in one step.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

    from agentic_loop.temporal.plugin import AgentLoopPlugin

TIME_SKIPPING = "time-skipping"
LOCAL = "local"
# Long enough that a server whose clock is locked cannot cover it within the deadline below,
# short enough that a healthy one does it in a few milliseconds.
PROBE_SKIP = timedelta(minutes=10)
PROBE_DEADLINE_SECONDS = 1.0


async def open_env(where: str, plugin: AgentLoopPlugin) -> WorkflowEnvironment:
    """A server to run agents on, its client connected with `plugin`: `time-skipping` (the
    test server), `local` (the dev server), or the HOST:PORT of a running server."""
    from agentic_loop.temporal import dev_server

    if where == TIME_SKIPPING:
        return await dev_server.start_time_skipping(plugin)
    if where == LOCAL:
        return await dev_server.start_dev_server(plugin=plugin)
    from temporalio.client import Client
    from temporalio.service import RPCError
    from temporalio.testing import WorkflowEnvironment

    if not where or where.startswith("-") or any(c.isspace() for c in where):
        raise ValueError(
            f"--agent-env={where!r} is not a server: give time-skipping, local, or the "
            "HOST:PORT of a running Temporal server"
        )
    try:
        client = await asyncio.wait_for(Client.connect(where, plugins=[plugin]), 15)
    except (RPCError, RuntimeError, TimeoutError) as e:
        raise ConnectionError(
            f"--agent-env={where}: cannot connect to a Temporal server there ({e}); start one "
            "(`agentic-loop server`), or use --agent-env=time-skipping or local"
        ) from e
    # Not ours to stop: shutting this environment down leaves the server running.
    return WorkflowEnvironment.from_client(client)


async def skips_time(env: WorkflowEnvironment) -> bool:
    """Whether the server still jumps over time (always true of a server that does not skip
    time at all)."""
    if not env.supports_time_skipping:
        return True
    try:
        await asyncio.wait_for(env.sleep(PROBE_SKIP), PROBE_DEADLINE_SECONDS)
    except TimeoutError:
        return False
    return True


class AgentServers:
    """The server of a test session, started when a test first needs it and replaced when a
    test left it unable to skip time (see the module's docstring).

    where: `time-skipping`, `local`, or the HOST:PORT of a running server.
    """

    def __init__(self, plugin: AgentLoopPlugin, where: str = TIME_SKIPPING) -> None:
        self.plugin = plugin
        self.where = where
        self.replaced = 0
        self._env: WorkflowEnvironment | None = None
        # The dev server of tests marked dev_server, when the session's server is the test
        # server (on any other, those tests run on the session's server).
        self._dev: WorkflowEnvironment | None = None

    async def get(self, *, dev: bool = False) -> WorkflowEnvironment:
        """The session's server; with `dev`, a server that does not skip time and closes a
        run in one step: the session's own unless it is the time-skipping test server, else
        a local dev server of the session."""
        if dev and self.where == TIME_SKIPPING:
            if self._dev is None:
                self._dev = await open_env(LOCAL, self.plugin)
            return self._dev
        if self._env is None:
            self._env = await open_env(self.where, self.plugin)
        return self._env

    async def check(self, env: WorkflowEnvironment) -> bool:
        """After a test: keep `env` if it still skips time, else shut it down so that the next
        test gets a new server. Whether it was kept."""
        if env is self._dev:
            return True
        if env is not self._env:
            return False
        if await skips_time(env):
            return True
        self._env = None
        self.replaced += 1
        await env.shutdown()
        return False

    async def aclose(self) -> None:
        envs = (self._env, self._dev)
        self._env = self._dev = None
        for env in envs:
            if env is not None:
                await env.shutdown()
