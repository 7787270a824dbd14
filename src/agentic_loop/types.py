"""Payloads that cross the workflow boundary.

Every class here is recorded in Temporal's event history, so each is a plain dataclass of
stdlib types, and a field added later must get a default: histories recorded before it must
still decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AgentStatus(StrEnum):
    """How an agent run ended (or that it has not ended yet)."""

    RUNNING = "running"
    COMPLETED = "completed"
    MAX_TURNS = "max_turns"
    MAX_TOKENS = "max_tokens"
    TRUNCATED = "truncated"
    REFUSED = "refused"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class ToolCall:
    """One tool invocation the LLM asked for."""

    id: str
    name: str
    # Kept as the raw JSON text the model produced: malformed arguments must reach the tool
    # runner intact so it can tell the model what was wrong.
    arguments: str = "{}"


@dataclass
class ToolResult:
    """What a tool answered; `is_error` results are refusals the LLM can correct."""

    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass
class Message:
    """One entry of the transcript, in Chat Completions terms."""

    role: str  # "system" | "user" | "assistant" | "tool"
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    # For role "tool": which call this answers, the tool's name, and whether it refused.
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )


@dataclass
class RetrySettings:
    """A Temporal retry policy in plain numbers, so it can travel in workflow input."""

    initial_interval_seconds: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval_seconds: float = 30.0
    # 0 means unlimited; then `schedule_to_close_seconds` should bound the wait.
    maximum_attempts: int = 5
    # Upper bound on all attempts of one activity, back-offs included; None for no bound.
    schedule_to_close_seconds: float | None = None


def _default_local_tools() -> list[str]:
    return ["calculator"]


@dataclass
class AgentInput:
    """Everything that defines one agent run. Secrets never go here: history is visible."""

    goal: str
    max_turns: int = 10
    # None: the worker's default model for its provider.
    model: str | None = None
    # None: the worker's default system prompt.
    system_prompt: str | None = None
    # Tools offered to the LLM; None offers every tool the worker has.
    tools: list[str] | None = None
    # Cheap, pure tools run as local activities (one marker event, no extra round trip).
    # This is input, not code, so changing the default never breaks a recorded history.
    local_tools: list[str] = field(default_factory=_default_local_tools)
    llm_retry: RetrySettings = field(default_factory=RetrySettings)
    llm_timeout_seconds: float = 120.0
    tool_retry: RetrySettings = field(default_factory=lambda: RetrySettings(maximum_attempts=3))
    tool_timeout_seconds: float = 60.0


@dataclass
class LLMRequest:
    """Input of the `call_llm` activity.

    It carries only the messages added since the previous LLM call, never the whole
    transcript: re-recording the conversation on every turn makes history grow as O(turns^2).
    The worker rebuilds the full conversation from its cache, or asks the workflow for it.
    """

    turn: int
    # Number of transcript messages that precede `new_messages`.
    history_length: int
    new_messages: list[Message] = field(default_factory=list)
    model: str | None = None
    tools: list[str] | None = None


@dataclass
class LLMTurn:
    """What the LLM answered on one turn (the `call_llm` activity's result)."""

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    # "stop", "tool_calls", "length", "content_filter" or "refusal".
    finish_reason: str = "stop"
    refusal: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str = ""


@dataclass
class ToolRequest:
    """Input of the `run_tool` activity."""

    call: ToolCall
    # Stable across retries, crashes and replays, so a tool with side effects can deduplicate.
    idempotency_key: str


@dataclass
class TranscriptRequest:
    """Argument of the `transcript` query: messages[start:end]."""

    start: int = 0
    end: int | None = None


@dataclass
class TranscriptPage:
    messages: list[Message]
    start: int
    total: int


@dataclass
class AgentProgress:
    """Answer of the `status` query."""

    status: AgentStatus
    phase: str
    turns: int
    tool_calls: int
    usage: Usage
    transcript_length: int


@dataclass
class AgentResult:
    """What an agent run returns."""

    answer: str
    status: AgentStatus
    workflow_id: str = ""
    turns: int = 0
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    # Why the run failed, in words a person can act on; None unless status is failed.
    error: str | None = None
    transcript_length: int = 0
