"""What the commands print: results, counts, JSON, one line per long text."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TextIO

from agentic_loop.llm import LLMProvider
from agentic_loop.types import AgentResult, AgentStatus, Message


def to_json(value: Any) -> str:
    """A payload dataclass (or a plain dict) as one line of JSON, text as it is written."""
    is_payload = dataclasses.is_dataclass(value) and not isinstance(value, type)
    data = dataclasses.asdict(value) if is_payload else value
    return json.dumps(data, ensure_ascii=False, default=str)


def describe_provider(provider: LLMProvider) -> str:
    return f"{provider.name} (model {provider.default_model})"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def answered_turns(result: AgentResult) -> int:
    """The LLM turns that answered. `turns` counts every turn begun, and a run that failed or
    was cancelled while the LLM was asked (a 401 on the first call, say) began one that never
    answered: then the last message is not the assistant's."""
    last: Message | None = result.transcript[-1] if result.transcript else None
    unanswered = result.status in (AgentStatus.FAILED, AgentStatus.CANCELLED) and (
        last is None or last.role != "assistant"
    )
    return max(0, result.turns - 1) if unanswered else result.turns


def print_result(result: AgentResult, out: TextIO) -> None:
    print("", file=out)
    print("Answer:" if result.answer else f"No answer ({result.status.value}).", file=out)
    if result.answer:
        print(result.answer, file=out)
    if result.error:
        print(f"Error: {result.error}", file=out)
    turns = plural(answered_turns(result), "LLM turn")
    calls = plural(result.tool_calls, "tool call")
    tokens = plural(result.usage.total_tokens, "token")
    # A priced run says what it cost; the fakes cost nothing and would only add noise.
    cost = f", ${result.cost_usd:.4f}" if result.cost_usd else ""
    moved = "".join(
        f"\n[failover] turn {f.turn}: {f.from_provider} -> {f.to_provider} ({f.reason})"
        for f in result.failovers
    )
    print(
        f"\n[{result.status.value}] {turns}, {calls}, {tokens}{cost} · workflow "
        f"{result.workflow_id}{moved}",
        file=out,
    )


def exit_code(result: AgentResult) -> int:
    """0 for a goal reached or a conversation ended by its person; 1 for any other ending."""
    return 0 if result.status in (AgentStatus.COMPLETED, AgentStatus.ENDED) else 1


def shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
