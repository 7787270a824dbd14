"""The one interface every LLM provider implements, fake or real."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from agentic_loop.types import LLMTurn, Message


@dataclass
class CompletionRequest:
    """What a provider is asked: the whole conversation, rebuilt on the worker."""

    messages: list[Message]
    # Tool schemas in the Chat Completions `tools` format.
    tools: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    # Which attempt of the activity this is (1-based): scripted faults count attempts.
    attempt: int = 1
    # Seconds from the first attempt's scheduling to this attempt's, in server time (so time
    # skipped by the test server counts): lets a fake simulate an outage of a given length.
    elapsed_seconds: float = 0.0


class LLMProvider(Protocol):
    @property
    def name(self) -> str:
        """Short name shown to people: "fake", "scripted", "openai"."""
        ...

    @property
    def default_model(self) -> str: ...

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        """Answer one turn, or raise ProviderError (agentic_loop.llm.errors)."""
        ...
