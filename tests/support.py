"""Helpers shared by the test suites (imported as `support`: tests/ is on pythonpath)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from agentic_loop.llm.base import LLMProvider
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.types import AgentResult

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
