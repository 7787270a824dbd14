"""The loop's fixed choices: prompts, limits, and what the UI shows.

Pure functions and constants, imported by the workflow (so they must stay deterministic).
"""

from __future__ import annotations

import json

from temporalio.exceptions import ActivityError, RetryState

from agentic_loop.types import Message, ToolCall, ToolResult

MAX_GOAL_CHARS = 32_000
MAX_MESSAGE_CHARS = 32_000
# How many times an empty LLM reply is answered with a nudge before the run fails.
MAX_EMPTY_REPLIES = 2
# The result carries the newest messages up to this many characters: the last few steps, for
# a person or a script reading the result. The whole conversation is the `transcript` query's
# to give; a long tail here would be recorded once more in every result (a fifth of a
# 100-step history at 256 K) and printed by every `run --json`.
RESULT_TRANSCRIPT_CHARS = 32_000

DEFAULT_SYSTEM_PROMPT = (
    "You are an agent that reaches the user's goal step by step. Use the tools you are given "
    "when they help: the calculator for any arithmetic, web_search to look things up. When "
    "the goal is reached, answer without calling a tool, in the language of the user's goal."
)
EMPTY_REPLY_NUDGE = (
    "Your last reply was empty. Either call one of the tools or give your final answer."
)


def tool_summary(call: ToolCall, limit: int = 80) -> str:
    """What the Temporal UI shows for a tool activity, e.g. "calculator: 5 + 3"."""
    try:
        args = json.loads(call.arguments)
    except json.JSONDecodeError:
        args = call.arguments
    if isinstance(args, dict) and len(args) == 1:
        shown = str(next(iter(args.values())))
    elif isinstance(args, dict):
        shown = ", ".join(f"{k}={v}" for k, v in args.items())
    else:
        shown = str(args)
    text = f"{call.name}: {shown}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


_GAVE_UP = {
    RetryState.MAXIMUM_ATTEMPTS_REACHED: "gave up after the retry policy's maximum attempts",
    RetryState.TIMEOUT: "gave up when the retry policy's schedule-to-close timeout ran out",
}


def failure_message(error: ActivityError) -> str:
    """The innermost cause of an activity failure (the provider's or the tool's own words),
    and why Temporal stopped retrying when it was not the error itself that said so."""
    cause: BaseException | None = error.cause
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    message = str(cause) if cause is not None else str(error)
    gave_up = _GAVE_UP.get(error.retry_state) if error.retry_state is not None else None
    return f"{message} ({gave_up})" if gave_up else message


def _size(message: Message) -> int:
    return len(message.content) + sum(len(c.arguments) + len(c.name) for c in message.tool_calls)


def newest_that_fit(messages: list[Message], budget: int) -> list[Message]:
    """The longest tail of `messages` whose text fits in `budget` characters."""
    used = 0
    for index in range(len(messages) - 1, -1, -1):
        used += _size(messages[index])
        if used > budget:
            return messages[index + 1 :]
    return list(messages)


def goal_problem(goal: str) -> str | None:
    """Why a goal cannot be worked on, or None: the workflow refuses such a run and the
    command line refuses to start it, with the same sentence."""
    if not goal.strip():
        return 'the goal is empty: say what the agent should do, e.g. "What is 2 + 2?"'
    if len(goal) > MAX_GOAL_CHARS:
        return f"the goal has {len(goal)} characters; the limit is {MAX_GOAL_CHARS}"
    return None


def refusal(call: ToolCall, reason: str) -> ToolResult:
    """An error result the workflow itself gives for a call (no activity produced it)."""
    return ToolResult(call_id=call.id, name=call.name, content=reason, is_error=True)
