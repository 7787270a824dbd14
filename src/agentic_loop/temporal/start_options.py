"""What a starter adds to an agent's start so that the Temporal UI tells its story: the goal as
the workflow's summary, and `AgentStatus` (when the server has it registered) as a search
attribute that the workflow then keeps up to date (workflow/visibility.py)."""

from __future__ import annotations

import weakref
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from agentic_loop.types import AgentStatus
from agentic_loop.workflow.visibility import AGENT_STATUS

# The UI shows a summary on one line; a long goal is cut there (the input keeps it whole).
SUMMARY_CHARS = 200

# Whether each client's namespace has AgentStatus, asked once per client and namespace.
_registered: weakref.WeakKeyDictionary[Client, dict[str, bool]] = weakref.WeakKeyDictionary()


async def has_agent_status(client: Client, namespace: str) -> bool:
    """Whether the namespace has `AgentStatus` registered as a Keyword. A server that will not
    say (Temporal Cloud keeps its operator API elsewhere) counts as without it: starting
    with an unregistered attribute would fail the start."""
    known = _registered.setdefault(client, {})
    if namespace not in known:
        try:
            answer = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
        except RPCError:
            known[namespace] = False
        else:
            kind = answer.custom_attributes.get(AGENT_STATUS.name)
            known[namespace] = kind == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    return known[namespace]


def summary_of(goal: str) -> str:
    line = " ".join(goal.split())
    return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1] + "…"


async def agent_start_options(client: Client, namespace: str, goal: str) -> dict[str, Any]:
    """Keyword arguments for `client.start_workflow` of an agent: its summary and, where the
    server has it, `AgentStatus = running`."""
    options: dict[str, Any] = {"static_summary": summary_of(goal)}
    if await has_agent_status(client, namespace):
        options["search_attributes"] = TypedSearchAttributes(
            [SearchAttributePair(AGENT_STATUS, AgentStatus.RUNNING.value)]
        )
    return options
