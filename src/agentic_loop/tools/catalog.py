"""A run's tool catalog: the tools from outside the program (MCP servers') as the run recorded
them, once, so that what the model is shown cannot change under a run.

Without it, each LLM turn would offer what the server lists at that moment: a server updated
mid-run, or a worker restarted against another version of it, would show the model other
tools (or other schemas) on the next turn than on the last, and nothing in history would say
so. With it, the first LLM turn of a run offers the worker's tools and returns them
(`LLMTurn.tool_catalog`: recorded once); every later request names that copy by key
(`LLMRequest.catalog_key`), which the worker finds in its cache, or, after a restart or on
another worker, asks the workflow for (the `tool_catalog` query: queries are not recorded).
Continue-as-new carries the catalog into the next run's input. A run on a worker without
such tools records nothing of the kind: its requests and turns keep their defaults.
"""

from __future__ import annotations

from collections import OrderedDict

from temporalio import activity

from agentic_loop.tools.registry import ToolRegistry
from agentic_loop.transcript.keys import catalog_key
from agentic_loop.types import ToolSpec

CATALOG_QUERY = "tool_catalog"


def catalog_of(tools: ToolRegistry) -> list[ToolSpec]:
    """This worker's tools from outside the program, now, in registration order."""
    return [ToolSpec(t.name, t.description, t.parameters, t.source) for t in tools if t.external]


class CatalogCache:
    """The catalogs this worker's runs recorded, by key; a handful of distinct ones is usual
    (one per version of the servers' tool lists), so it is bounded by count."""

    def __init__(self, max_catalogs: int = 64) -> None:
        self._max = max_catalogs
        self._entries: OrderedDict[str, list[ToolSpec]] = OrderedDict()
        self.misses = 0

    def get(self, key: str) -> list[ToolSpec] | None:
        specs = self._entries.get(key)
        if specs is not None:
            self._entries.move_to_end(key)
        return specs

    def put(self, key: str, specs: list[ToolSpec]) -> None:
        self._entries[key] = specs
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


async def run_catalog(tools: ToolRegistry, cache: CatalogCache, key: str | None) -> list[ToolSpec]:
    """In the LLM activity: the catalog this turn shows the model. With no key (nothing
    recorded yet), this worker's tools now, which the turn then returns to be recorded."""
    if key is None:
        specs = catalog_of(tools)
        if specs:
            cache.put(catalog_key(specs), specs)
        return specs
    held = cache.get(key)
    if held is not None:
        return held
    cache.misses += 1
    specs = await _ask_workflow(key)
    cache.put(key, specs)
    return specs


async def _ask_workflow(key: str) -> list[ToolSpec]:
    info = activity.info()
    handle = activity.client().get_workflow_handle(
        info.workflow_id or "", run_id=info.workflow_run_id
    )
    specs: list[ToolSpec] = await handle.query(CATALOG_QUERY, result_type=list[ToolSpec])
    if catalog_key(specs) != key:
        # Never show the model a catalog other than the one the request names.
        raise RuntimeError(
            f"workflow {info.workflow_id} answered a tool catalog other than {key!r} "
            f"({catalog_key(specs)!r})"
        )
    return specs
