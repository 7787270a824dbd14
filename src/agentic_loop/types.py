"""Payloads that cross the workflow boundary.

Every class here is recorded in Temporal's event history, so each is a plain dataclass of
stdlib types, and a field added later must get a default: histories recorded before it must
still decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AgentStatus(StrEnum):
    """How an agent run (or, in a conversation, one request) ended, or that it has not."""

    RUNNING = "running"
    COMPLETED = "completed"
    MAX_TURNS = "max_turns"
    MAX_TOKENS = "max_tokens"
    TRUNCATED = "truncated"
    REFUSED = "refused"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Conversations only: ended by the `end` signal, or by no message within the idle timeout.
    ENDED = "ended"
    IDLE_TIMEOUT = "idle_timeout"
    # The run's LLM cost reached AgentInput.max_cost_usd.
    MAX_COST = "max_cost"


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
    # When a sub-agent answered the call: the child workflow that ran it, whose own history
    # and `transcript` query hold its conversation (the parent keeps only the answer).
    agent_workflow_id: str | None = None


# Roles the LLM is shown; other entries of the transcript (the approval audit trail) are not.
LLM_ROLES = frozenset({"system", "user", "assistant", "tool"})
# What the model is shown of one tool result by default (AgentInput.tool_result_limit_bytes).
DEFAULT_TOOL_RESULT_LIMIT_BYTES = 64 * 1024


@dataclass
class Message:
    """One entry of the transcript, in Chat Completions terms, plus audit entries."""

    # "system" | "user" | "assistant" | "tool", or "approval" for a recorded decision.
    role: str
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    # For role "tool" (and "approval"): which call this is about, the tool's name, and
    # whether the tool refused (or the call was rejected).
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False
    # Workflow time (ISO 8601) at which the entry was made; set on audit entries.
    at: str | None = None
    # For a tool message a sub-agent answered: its child workflow (ToolResult says why).
    agent_workflow_id: str | None = None


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


def _default_inline_tools() -> list[str]:
    return ["calculator"]


@dataclass
class SubAgent:
    """An agent offered to another agent as a tool: the model calls it with a task, and it
    runs as a child workflow (an AgentWorkflow of its own, with its own history) whose answer
    is the call's result. Declared in the workflow input (AgentInput.agents) or on the worker
    (AgentLoopPlugin(agents=...)); recorded in history either way, so fields added later get
    defaults."""

    # The tool name the model calls it by, and what the model is told it is for.
    name: str
    description: str
    # None: the worker's default system prompt.
    system_prompt: str | None = None
    # The tools it is offered; None offers every tool of the worker.
    tools: list[str] | None = None
    # None: the worker's default model for its provider.
    model: str | None = None
    max_turns: int = 10
    # Its own budgets; the parent's remaining budgets bound them too.
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    # The longest its run may take, in seconds (then the call fails); None for no limit.
    timeout_seconds: float | None = None
    # Providers of the worker's chain it uses, in order; empty: the worker's own order.
    llm_providers: list[str] = field(default_factory=list)


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
    # Cheap, pure tools the LLM activity runs itself when the model asks for them: no
    # activity and no workflow activation of their own (docs/performance.md). A call it could
    # not answer falls back to `local_tools` or a regular activity. Never approval tools.
    inline_tools: list[str] = field(default_factory=_default_inline_tools)
    llm_retry: RetrySettings = field(default_factory=RetrySettings)
    llm_timeout_seconds: float = 120.0
    tool_retry: RetrySettings = field(default_factory=lambda: RetrySettings(maximum_attempts=3))
    tool_timeout_seconds: float = 60.0
    # A conversation: after each answer, wait for the next `send_message` (or `end`).
    chat: bool = False
    idle_timeout_seconds: float = 3600.0
    # Tools whose calls wait for `approve` / `reject`; no decision in time counts as rejected.
    approval_required: list[str] = field(default_factory=list)
    approval_timeout_seconds: float = 24 * 3600.0
    # Ends the run with status max_tokens once this many tokens were used in all.
    max_total_tokens: int | None = None
    # End the run (status max_cost) once its LLM turns have cost this many US dollars, by the
    # worker's price table; None for no budget in dollars.
    max_cost_usd: float | None = None
    # Providers of the worker's chain to use, in order of failover ("anthropic", "openai");
    # empty: the worker's own order (AGENTIC_LOOP_LLM=openai,anthropic).
    llm_providers: list[str] = field(default_factory=list)
    # Continue-as-new once history has this many events (None: when Temporal suggests it).
    continue_as_new_after_events: int | None = None
    # How long an LLM or tool call waits for the worker that holds the conversation's
    # transcript to pick it up before any worker may (workflow/affinity.py); Temporal's own
    # sticky workflow tasks wait 5 s. None: every call goes to the shared task queue.
    worker_affinity_seconds: float | None = 5.0
    # Sub-agents offered to the model as tools, besides those of the worker (docs/sub-agents.md).
    agents: list[SubAgent] = field(default_factory=list)
    # 0 for an agent started from outside; a sub-agent's run has its parent's depth plus one.
    # A sub-agent returns its answer without its transcript (its parent records the result).
    agent_depth: int = 0
    # What the model is shown of one tool result, in UTF-8 bytes: a longer one reaches it cut,
    # with a note of how much was left out (the transcript keeps all of it). None: never cut.
    tool_result_limit_bytes: int | None = DEFAULT_TOOL_RESULT_LIMIT_BYTES
    # Set only by the workflow itself, on continue-as-new.
    carried: CarriedState | None = None


@dataclass
class PendingRequest:
    """A user message accepted by `send_message` and not yet answered."""

    number: int
    text: str


@dataclass
class Failover:
    """A move from one provider to the next, recorded in the result and the status."""

    turn: int
    from_provider: str
    to_provider: str
    # Why the call failed for good, in the provider's words.
    reason: str
    # Workflow time (ISO 8601).
    at: str = ""


@dataclass
class CarriedState:
    """What one run hands the next at continue-as-new. Messages the LLM has already been sent
    stay behind (in the earlier runs and the workers' caches); only the rest is carried."""

    conversation_id: str
    previous_run_id: str
    # Global index of the first carried message; `messages` continue the transcript from it.
    transcript_base: int
    messages: list[Message]
    sent: int
    turns: int
    request_turns: int
    tool_calls: int
    usage: Usage
    requests: int
    current: int
    answered: int
    inbox: list[PendingRequest] = field(default_factory=list)
    # Dollars spent by the earlier runs (0 in runs recorded before costs were counted).
    cost_usd: float = 0.0
    # The provider calls go to after failovers (None: the worker's first), and the moves.
    provider: str | None = None
    failovers: list[Failover] = field(default_factory=list)
    # The run's tool catalog (ToolSpec): recorded once per run, here for the runs after the
    # first (empty in runs recorded before MCP tools, and in runs without them).
    tool_catalog: list[ToolSpec] = field(default_factory=list)
    # The worker queue the conversation follows (workflow/affinity.py); None in runs recorded
    # before worker affinity.
    worker_queue: str | None = None


@dataclass
class ToolSpec:
    """A tool from outside the program (an MCP server's) as the model is shown it. The worker
    lists such tools when a run has none recorded, and the LLM turn returns them: the run keeps
    that copy (its tool catalog), so every later turn, and every replay, shows the same tools,
    whatever the server lists by then."""

    name: str
    description: str = ""
    # JSON schema of the arguments object.
    parameters: dict[str, Any] = field(default_factory=dict)
    # Where the worker found it ("MCP server notes (mcp.json)"), for people.
    source: str = ""


@dataclass
class MessageRef:
    """A message of the delta that an activity already returned, so already in history once:
    the worker takes it from its cache instead of having it recorded a second time."""

    # Its place in the delta (new_messages and the referenced ones, merged in order).
    position: int
    key: str
    # transcript.keys.message_checksum of the message: a stale cached copy is never used.
    checksum: int


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
    # The same across continue-as-new, so the worker's cached copy outlives a run.
    conversation_id: str = ""
    # Messages of the delta that are not in `new_messages`: see MessageRef.
    recorded: list[MessageRef] = field(default_factory=list)
    # Tools whose calls this activity answers itself, right after the model asks for them
    # (AgentInput.inline_tools): their results come back in LLMTurn.tool_results.
    inline_tools: list[str] = field(default_factory=list)
    # Which of the worker's providers to ask (after a failover); None: its first.
    provider: str | None = None
    # The one to move to if this call fails for good, when the input orders the providers
    # (AgentInput.llm_providers); None: the worker's chain says.
    next_provider: str | None = None
    # The run's tool catalog, by key (transcript.keys.catalog_key), once a turn recorded one:
    # the worker takes it from its cache, or asks the workflow (the `tool_catalog` query).
    # None: none recorded yet, so the worker offers the tools it has from outside, now.
    catalog_key: str | None = None
    # The input's sub-agents, name -> description: the activity offers each to the model as
    # a tool taking a task (the workflow knows them from its input and runs them itself).
    agents: dict[str, str] = field(default_factory=dict)
    # AgentInput.tool_result_limit_bytes; a request recorded before the field had the default.
    tool_result_limit_bytes: int | None = DEFAULT_TOOL_RESULT_LIMIT_BYTES


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
    # Results of the calls above that the activity ran itself (LLMRequest.inline_tools); a
    # call without one here runs as its own activity. Empty in histories recorded before.
    tool_results: list[ToolResult] = field(default_factory=list)
    # What the worker's tools say of the calls above, recorded with the turn so the workflow
    # decides from history, not from the worker it replays on: the calls whose tool needs a
    # person's approval (`@tool(approval=True)`), and the tools' own time limits per call.
    # Empty in histories recorded before, which took neither into account.
    approval_calls: list[str] = field(default_factory=list)
    call_timeouts: dict[str, float] = field(default_factory=dict)
    # What the turn cost in US dollars, priced by the worker that made it; 0 when unpriced
    # (and in turns recorded before costs were counted).
    cost_usd: float = 0.0
    # Which of the worker's providers answered ("" in turns recorded before failover).
    provider: str = ""
    # The calls above that name a sub-agent of the worker's (AgentLoopPlugin(agents=...)),
    # with its definition: the workflow runs them as child workflows, deciding from history.
    # Empty in turns recorded before sub-agents.
    agent_calls: dict[str, SubAgent] = field(default_factory=dict)
    # The tools from outside the program (MCP servers') this turn offered, when the request
    # had no catalog_key: recorded here once, the run's tool catalog from then on. Empty on
    # every other turn, and on every turn of a worker without such tools.
    tool_catalog: list[ToolSpec] = field(default_factory=list)
    # The task queue of the worker that made this turn, which holds the conversation now: the
    # next LLM call and this turn's tool calls go there (workflow/affinity.py). None when
    # that worker offers none, and in turns recorded before worker affinity.
    worker_queue: str | None = None


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
    """messages[start:start+len(messages)] of the whole conversation (global indices)."""

    messages: list[Message]
    start: int
    total: int
    # This run holds messages from `base` on; earlier ones are in `previous_run_id`'s run.
    base: int = 0
    previous_run_id: str | None = None


@dataclass
class UserMessage:
    """Argument of the `send_message` update."""

    text: str
    # Return only once the agent answered this message (else as soon as it is accepted).
    wait_for_answer: bool = False


@dataclass
class Reply:
    """Result of the `send_message` update."""

    request: int
    status: AgentStatus
    answer: str | None = None


@dataclass
class ApprovalRequest:
    """Argument of the `approve` and `reject` updates; no call id means every pending call."""

    call_id: str | None = None
    reason: str = ""


@dataclass
class ApprovalDecision:
    call_id: str
    approved: bool
    reason: str
    # "user", or "timeout" when nobody decided in time.
    decided_by: str
    at: str


@dataclass
class AgentProgress:
    """Answer of the `status` query."""

    status: AgentStatus
    # "thinking", "running tools", "waiting for approval", "waiting for the user", "done".
    phase: str
    turns: int
    tool_calls: int
    usage: Usage
    transcript_length: int
    chat: bool = False
    requests: int = 0
    # Calls running now, and those of them waiting for a decision.
    pending_tool_calls: list[ToolCall] = field(default_factory=list)
    awaiting_approval: list[ToolCall] = field(default_factory=list)
    turns_left: int = 0
    tokens_left: int | None = None
    cost_usd: float = 0.0
    # Dollars left of max_cost_usd; None without such a budget.
    cost_left_usd: float | None = None
    # The provider calls go to now (None: the worker's first), and every move so far.
    provider: str | None = None
    failovers: list[Failover] = field(default_factory=list)
    # Sub-agents running now, each a child workflow (its transcript: `transcript ID`).
    agents_running: list[RunningAgent] = field(default_factory=list)


@dataclass
class RunningAgent:
    """A sub-agent in flight, as the `status` query shows it."""

    call_id: str
    name: str
    workflow_id: str


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
    # This run's messages (the newest ones only, if they would make the result too large);
    # the whole conversation is always readable through the `transcript` query.
    transcript: list[Message] = field(default_factory=list)
    transcript_start: int = 0
    requests: int = 1
    # What the run's LLM turns cost in US dollars, all runs of a conversation included.
    cost_usd: float = 0.0
    # Each move to the next provider: turns before the first were answered by the first
    # provider, turns from a move on by the one it moved to.
    failovers: list[Failover] = field(default_factory=list)
