"""Helpers shared by the test suites (imported as `support`: tests/ is on pythonpath)."""

from __future__ import annotations

import ast
import asyncio
import inspect
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from agentic_loop.llm.base import LLMProvider
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.types import AgentProgress, AgentResult

T = TypeVar("T")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCRIPTS = FIXTURES / "scripts"


def modules_loaded_by(modules: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules named by one of `prefixes` that a fresh interpreter has loaded once it has
    imported `modules` (comma-separated): what importing them costs a command's start-up."""
    code = (
        f"import sys, {modules}; "
        f"print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: list[str] = ast.literal_eval(done.stdout.strip())
    return loaded


def load_script(name: str) -> ScriptedLLM:
    return ScriptedLLM.from_file(SCRIPTS / f"{name}.json")


@dataclass
class AgentRun:
    result: AgentResult
    handle: WorkflowHandle[Any, AgentResult]
    provider: LLMProvider


RunAgent = Callable[..., Awaitable[AgentRun]]


async def poll_until(
    probe: Callable[[], T | Awaitable[T]],
    check: Callable[[T], bool] = bool,
    *,
    within: float = 20.0,
    every: float = 0.05,
    what: str = "the condition",
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `probe` (sync or async) until `check` holds for what it returns, and return that;
    a deadline, never a fixed sleep. A probe raising one of `retry_on` counts as "not yet".
    Past `within` seconds, TimeoutError naming `what` and the last value seen."""
    deadline = time.monotonic() + within
    seen: T | None = None
    while True:
        try:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
        except retry_on:
            value = None
        else:
            seen = value  # type: ignore[assignment]
            if check(seen):  # type: ignore[arg-type]
                return seen  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {within:g} s for {what}; last: {seen!r}"[:500])
        await asyncio.sleep(every)


def install_distribution(
    site: Path, name: str, version: str, entry_points: dict[str, dict[str, str]]
) -> None:
    """Make directory `site` (put it on sys.path) hold an installed distribution with these
    entry points ({group: {name: value}}), as importlib.metadata finds real ones."""
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    sections = (
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
        for group, points in entry_points.items()
    )
    (dist_info / "entry_points.txt").write_text("\n".join(sections), encoding="utf-8")


# How long one status query may take while polling. On the time-skipping test server a
# status query sent right after a run continued as new was seen to wait out its whole 30 s
# deadline (the test server's continue-as-new is not atomic: agentic_loop/testing/servers.py;
# the tests that continue as new are now marked dev_server). Short and retried, a query that
# is held costs a poll.
STATUS_QUERY_TIMEOUT = timedelta(seconds=2)


async def agent_status(handle: WorkflowHandle[Any, Any]) -> AgentProgress:
    """The `status` query, with a short deadline (see STATUS_QUERY_TIMEOUT)."""
    progress: AgentProgress = await handle.query(
        "status", result_type=AgentProgress, rpc_timeout=STATUS_QUERY_TIMEOUT
    )
    return progress


async def until_status(
    handle: WorkflowHandle[Any, Any],
    check: Callable[[AgentProgress], bool],
    *,
    within: float = 20.0,
    what: str = "the agent's status",
) -> AgentProgress:
    """Poll the status query until `check` holds; a query that timed out is polled again."""
    return await poll_until(
        lambda: agent_status(handle), check, within=within, what=what, retry_on=(RPCError,)
    )
