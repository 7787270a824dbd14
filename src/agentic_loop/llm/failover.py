"""Several providers in order of preference, and how a failed call names the next one.

`AGENTIC_LOOP_LLM=openai,anthropic` gives the worker a ProviderChain. The LLM activity calls
the provider the workflow asks for (`LLMRequest.provider`; the first when it asks for none),
and when that call fails for good, its failure says which provider failed and which comes next
(`failover_details`). The workflow moves on from that recorded failure, never from the worker's
configuration, so a replay after a restart, or on a worker configured otherwise, is exact.

Failing for good: after the retry policy gave up, or, when there is a next provider, at once
on an outage (connection refused, no quota left, a third 5xx/529 in a row): waiting out an
outage of one provider when another could answer is the worst of both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentic_loop.llm.base import CompletionRequest, LLMProvider
from agentic_loop.llm.errors import ProviderError
from agentic_loop.types import LLMTurn

# The attempt at which a run of server errors counts as an outage, when a next provider exists.
OUTAGE_AFTER_ATTEMPTS = 3
# Codes that say the provider cannot serve this account now, whatever the wait.
OUTAGE_CODES = frozenset({"insufficient_quota"})


class ProviderChain:
    """An LLMProvider of several: itself it answers as its first, and the activity picks any
    one of them by name."""

    def __init__(self, providers: Sequence[tuple[str, LLMProvider]]) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        names = [n for n, _ in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"a provider is named twice in {', '.join(names)}")
        self.providers = dict(providers)
        self.order = names

    @property
    def name(self) -> str:
        return ",".join(self.order)

    @property
    def default_model(self) -> str:
        return self.providers[self.order[0]].default_model

    def get(self, name: str | None) -> tuple[str, LLMProvider]:
        """The provider called `name` (the first for None); KeyError naming the choices."""
        chosen = self.order[0] if name is None else name
        if chosen not in self.providers:
            raise KeyError(
                f"this worker has no provider {chosen!r}; it has {', '.join(self.order)}"
            )
        return chosen, self.providers[chosen]

    def next_after(self, name: str) -> str | None:
        position = self.order.index(name) if name in self.order else -1
        return self.order[position + 1] if position + 1 < len(self.order) else None

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        return await self.providers[self.order[0]].complete(request)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            aclose = getattr(provider, "aclose", None)
            if aclose is not None:
                await aclose()


def is_outage(error: ProviderError, attempt: int) -> bool:
    """Whether a failure says the provider is down for us, not just busy: it could not be
    reached at all (ProviderError.outage), has no quota for us, or keeps failing with 5xx."""
    if error.outage or error.code in OUTAGE_CODES:
        return True
    status = error.status_code
    return status is not None and status >= 500 and attempt >= OUTAGE_AFTER_ATTEMPTS


def failover_details(provider: str, next_provider: str | None) -> dict[str, Any]:
    """What a failed call records for the workflow: who failed, and who is next (or None)."""
    return {"failover": {"provider": provider, "next": next_provider}}


def failover_target(details: Sequence[Any]) -> tuple[str, str] | None:
    """(failed provider, next provider) from a failure's recorded details; None if it names
    no next provider (the failure is final, as it was before failover existed)."""
    for item in details:
        failover = item.get("failover") if isinstance(item, dict) else None
        if isinstance(failover, dict) and failover.get("next"):
            return str(failover.get("provider")), str(failover["next"])
    return None
