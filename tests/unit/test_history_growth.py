"""History grows linearly with the number of steps (DESIGN.md decision 2)."""

from __future__ import annotations

from typing import Any

from agentic_loop.llm.scripted import ScriptedLLM, ScriptedTurn
from agentic_loop.tools import Tool, ToolContext, ToolRegistry, default_registry
from agentic_loop.transcript.cache import TranscriptCache
from agentic_loop.types import AgentStatus, ToolCall
from support import RunAgent

KILOBYTE_RESULT = "".join(f"line {i:03d} of a one-kilobyte tool result.\n" for i in range(24))


async def _kilobyte(args: dict[str, Any], context: ToolContext) -> str:
    return f"{args['step']}: {KILOBYTE_RESULT}"


def _registry() -> ToolRegistry:
    tools = default_registry()
    tools.register(
        Tool(
            name="fetch_page",
            description="Returns about 1 KB of text.",
            parameters={
                "type": "object",
                "properties": {"step": {"type": "integer"}},
                "required": ["step"],
            },
            run=_kilobyte,
        )
    )
    return tools


def _steps(count: int) -> ScriptedLLM:
    turns = [
        ScriptedTurn(
            tool_calls=[ToolCall(id=f"c{i}", name="fetch_page", arguments=f'{{"step": {i}}}')]
        )
        for i in range(count)
    ]
    return ScriptedLLM([*turns, ScriptedTurn(content="done")])


async def _history_bytes(run_agent: RunAgent, steps: int, **kwargs: Any) -> int:
    run = await run_agent(_steps(steps), max_turns=steps + 1, tools=_registry(), **kwargs)
    assert run.result.status == AgentStatus.COMPLETED
    assert run.result.tool_calls == steps
    history = await run.handle.fetch_history()
    return len(history.to_json())


async def test_history_of_60_steps_is_at_most_2_2_times_that_of_30(run_agent: RunAgent) -> None:
    """With ~1 KB tool results, doubling the steps at most ~doubles the history bytes
    (re-recording the transcript on every LLM call would make it ~3.5-4x)."""
    thirty = await _history_bytes(run_agent, 30)
    sixty = await _history_bytes(run_agent, 60)
    print(f"history bytes: 30 steps {thirty}, 60 steps {sixty}, ratio {sixty / thirty:.2f}")
    assert sixty / thirty <= 2.2, (thirty, sixty)


async def test_the_llm_sees_the_whole_conversation_even_without_a_cache(
    run_agent: RunAgent,
) -> None:
    """With an empty worker cache the activity rebuilds the conversation through the
    transcript query, so the LLM is still sent every message."""
    llm = _steps(3)
    never_holds = TranscriptCache(max_conversations=0)
    run = await run_agent(llm, max_turns=4, tools=_registry(), cache=never_holds)
    assert run.result.status == AgentStatus.COMPLETED
    lengths = [len(r.messages) for r in llm.requests]
    assert lengths == [2, 4, 6, 8]
    assert never_holds.misses == 3  # the first request starts from nothing: no lookup needed
    last = llm.requests[-1].messages
    assert [m.role for m in last] == ["system", "user", *(["assistant", "tool"] * 3)]


async def test_a_warm_cache_serves_every_turn_without_a_query(run_agent: RunAgent) -> None:
    """On one worker with a warm cache, every turn after the first is a cache hit."""
    cache = TranscriptCache()
    run = await run_agent(_steps(5), max_turns=6, tools=_registry(), cache=cache)
    assert run.result.status == AgentStatus.COMPLETED
    assert (cache.hits, cache.misses) == (5, 0)
