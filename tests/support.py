"""Helpers shared by the test suites (imported as `support`: tests/ is on pythonpath)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle

from agentic_loop.llm.base import LLMProvider
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.types import AgentResult

T = TypeVar("T")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCRIPTS = FIXTURES / "scripts"


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
) -> T:
    """Call `probe` (sync or async) until `check` holds for what it returns, and return that;
    a deadline, never a fixed sleep. Past `within` seconds, TimeoutError naming `what` and
    the last value seen."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        seen: T = value  # type: ignore[assignment]
        if check(seen):
            return seen
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
