"""Building the worker that runs AgentWorkflow and its activities; `agentic-loop worker`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker

from agentic_loop.activities import LLMActivities, ToolActivities
from agentic_loop.llm.base import LLMProvider
from agentic_loop.tools import ToolRegistry, default_registry
from agentic_loop.transcript_cache import TranscriptCache
from agentic_loop.workflow import AgentWorkflow

# What a worker registers; the replayer must use exactly these to judge a history.
WORKFLOWS = [AgentWorkflow]


def data_converter() -> DataConverter:
    """The converter of every client, worker and replayer of this program."""
    return DataConverter.default


def build_worker(
    client: Client,
    *,
    task_queue: str,
    provider: LLMProvider,
    tools: ToolRegistry | None = None,
    cache: TranscriptCache | None = None,
    max_concurrent_activities: int = 200,
    max_cached_workflows: int = 2000,
) -> Worker:
    """A worker for the agent loop. An agent's activities mostly wait on the network, so
    concurrency is set well above the CPU count."""
    tools = tools if tools is not None else default_registry()
    llm = LLMActivities(provider, tools, cache)
    tool_runner = ToolActivities(tools)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[llm.call_llm, tool_runner.run_tool],
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        max_cached_workflows=max_cached_workflows,
    )
