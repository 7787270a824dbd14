"""build_worker(): a worker of the agent loop on a client connected with AgentLoopPlugin."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from agentic_loop.llm.base import LLMProvider
from agentic_loop.llm.pricing import PriceTable
from agentic_loop.temporal.plugin import plugin_of
from agentic_loop.tools import ToolRegistry
from agentic_loop.transcript.cache import TranscriptCache


def build_worker(
    client: Client,
    *,
    task_queue: str,
    provider: LLMProvider | None = None,
    tools: ToolRegistry | None = None,
    cache: TranscriptCache | None = None,
    prices: PriceTable | None = None,
    max_concurrent_activities: int = 200,
    max_cached_workflows: int = 2000,
    **options: Any,
) -> Worker:
    """A worker for the agent loop. Its workflow, runner, converter and interceptors come
    from the client's AgentLoopPlugin; `provider`, `tools`, `cache` and `prices`, when given,
    replace the plugin's for this worker's activities. An agent's activities mostly wait on the
    network, so concurrency is set well above the CPU count; `options` go to `Worker`."""
    plugin = plugin_of(client)
    given = (provider, tools, cache, prices)
    activities = (
        plugin.agent_activities(provider=provider, tools=tools, cache=cache, prices=prices)
        if any(g is not None for g in given)
        else []
    )
    return Worker(
        client,
        task_queue=task_queue,
        activities=activities,
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        max_cached_workflows=max_cached_workflows,
        **options,
    )
