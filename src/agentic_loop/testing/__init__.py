"""agentic_loop.testing: test your agent with what agentic-loop tests itself with.

- `Script`: a scripted conversation for the deterministic fake model (the JSON scripts'
  meaning, written in Python): tool calls, answers, conditions, and faults (HTTP statuses
  with retry-after, timeouts, delays, outages).
- Fixtures, from the pytest plugin that installing agentic-loop registers: `agent_plugin`
  (override it with your tools), `agent_env` (the time-skipping server unless
  `--agent-env=local|ADDRESS`), `agents` and `run_agent` (agents on fresh workers, ending as
  an `AgentRun` with transcript, history and assertions).
- `histories(folder)` and `replay(path, plugin)`: one test per recorded history, failing with
  the file and the divergence.

Names are imported when first used: pytest imports this package in every project that has
agentic-loop installed, and it must cost nothing there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentic_loop.lazy import lazy_attributes

# Public name -> the module that defines it.
_WHERE = {
    "Script": "agentic_loop.testing.script",
    "AgentRun": "agentic_loop.testing.run",
    "Agents": "agentic_loop.testing.agents",
    "RunAgent": "agentic_loop.testing.agents",
    "run_agent": "agentic_loop.testing.agents",
    "wait_until": "agentic_loop.testing.agents",
    "wait_for_approval": "agentic_loop.testing.agents",
    "AgentServers": "agentic_loop.testing.servers",
    "open_env": "agentic_loop.testing.servers",
    "skips_time": "agentic_loop.testing.servers",
    "ReplayFailed": "agentic_loop.testing.replaying",
    "histories": "agentic_loop.testing.replaying",
    "replay": "agentic_loop.testing.replaying",
}

__all__ = [
    "AgentRun",
    "AgentServers",
    "Agents",
    "ReplayFailed",
    "RunAgent",
    "Script",
    "histories",
    "open_env",
    "replay",
    "run_agent",
    "skips_time",
    "wait_for_approval",
    "wait_until",
]


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals(), __all__)


if TYPE_CHECKING:
    from agentic_loop.testing.agents import (
        Agents,
        RunAgent,
        run_agent,
        wait_for_approval,
        wait_until,
    )
    from agentic_loop.testing.replaying import ReplayFailed, histories, replay
    from agentic_loop.testing.run import AgentRun
    from agentic_loop.testing.script import Script
    from agentic_loop.testing.servers import AgentServers, open_env, skips_time
