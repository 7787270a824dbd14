"""The activities in isolation (ActivityEnvironment), and the worker's transcript cache."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from agentic_loop.activities import LLMActivities, ToolActivities
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.errors import provider_error
from agentic_loop.tools import Tool, ToolContext, ToolRegistry, default_registry
from agentic_loop.transcript.cache import TranscriptCache, message_bytes
from agentic_loop.transcript.keys import message_checksum, tool_message, tool_result_key
from agentic_loop.types import LLMRequest, LLMTurn, Message, MessageRef, ToolCall, ToolRequest


class RecordingLLM:
    """Answers "ok" and keeps every request; or raises the error it was given."""

    __test__ = False

    def __init__(self, error: Exception | None = None, delay: float = 0.0) -> None:
        self.requests: list[CompletionRequest] = []
        self.called = asyncio.Event()
        self.error = error
        self.delay = delay
        self.cancelled = False

    @property
    def name(self) -> str:
        return "recording"

    @property
    def default_model(self) -> str:
        return "recording-model"

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        self.requests.append(request)
        self.called.set()
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error:
            raise self.error
        return LLMTurn(content="ok")


def _msg(role: str, content: str) -> Message:
    return Message(role=role, content=content)


async def test_call_llm_rebuilds_the_conversation_from_the_cache_and_the_delta() -> None:
    """Turn 2 sends only its new messages; the provider still sees the whole conversation."""
    llm = RecordingLLM()
    activities = LLMActivities(llm, default_registry())
    env = ActivityEnvironment()
    first = [_msg("system", "s"), _msg("user", "goal")]
    await env.run(activities.call_llm, LLMRequest(turn=1, history_length=0, new_messages=first))
    delta = [_msg("assistant", "thinking"), _msg("user", "more")]
    await env.run(activities.call_llm, LLMRequest(turn=2, history_length=2, new_messages=delta))
    assert [m.content for m in llm.requests[1].messages] == ["s", "goal", "thinking", "more"]
    assert [t["function"]["name"] for t in llm.requests[1].tools] == ["calculator", "web_search"]
    assert llm.requests[1].model == "recording-model"


async def test_a_retried_attempt_does_not_append_its_delta_twice() -> None:
    """Running the same request twice (a retry) gives the provider the same conversation."""
    llm = RecordingLLM()
    activities = LLMActivities(llm, default_registry())
    env = ActivityEnvironment()
    await env.run(activities.call_llm, LLMRequest(1, 0, [_msg("user", "goal")]))
    retry = LLMRequest(2, 1, [_msg("assistant", "a"), _msg("user", "b")])
    await env.run(activities.call_llm, retry)
    await env.run(activities.call_llm, retry)
    assert len(llm.requests[1].messages) == len(llm.requests[2].messages) == 3


async def test_call_llm_offers_only_the_tools_the_request_names() -> None:
    """AgentInput.tools narrows the tool schemas sent to the provider."""
    llm = RecordingLLM()
    activities = LLMActivities(llm, default_registry())
    request = LLMRequest(1, 0, [_msg("user", "goal")], tools=["web_search"])
    await ActivityEnvironment().run(activities.call_llm, request)
    assert [t["function"]["name"] for t in llm.requests[0].tools] == ["web_search"]


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (401, False)])
async def test_provider_errors_become_application_errors_with_the_right_retry_flag(
    status: int, retryable: bool
) -> None:
    """The activity boundary hands Temporal a retryable or non-retryable ApplicationError."""
    llm = RecordingLLM(error=provider_error(status, "nope", retry_after=3))
    activities = LLMActivities(llm, default_registry())
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.call_llm, LLMRequest(1, 0, [_msg("user", "g")]))
    assert caught.value.non_retryable is (not retryable)
    assert "nope" in caught.value.message


async def test_cancelling_the_activity_cancels_the_provider_call() -> None:
    """A cancellation delivered to the activity reaches the provider's in-flight call."""
    llm = RecordingLLM(delay=30)
    activities = LLMActivities(llm, default_registry())
    env = ActivityEnvironment()
    task = asyncio.create_task(env.run(activities.call_llm, LLMRequest(1, 0, [_msg("user", "g")])))
    await asyncio.wait_for(llm.called.wait(), timeout=10)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert llm.cancelled


async def test_run_tool_hands_the_idempotency_key_to_the_tool() -> None:
    """The key from the workflow reaches the tool's context unchanged."""
    seen: list[ToolContext] = []

    async def remember(args: dict[str, Any], context: ToolContext) -> str:
        seen.append(context)
        return "done"

    tools = ToolRegistry(
        [Tool("remember", "Remembers.", {"type": "object", "properties": {}}, remember)]
    )
    result = await ActivityEnvironment().run(
        ToolActivities(tools).run_tool,
        ToolRequest(call=ToolCall(id="c1", name="remember"), idempotency_key="wf/1/c1"),
    )
    assert result.content == "done"
    assert seen[0].idempotency_key == "wf/1/c1"


def test_cache_prefix_trims_what_a_previous_attempt_appended() -> None:
    """A cached conversation longer than asked for is cut back to the requested prefix."""
    cache = TranscriptCache()
    cache.store("wf/run", [_msg("user", str(i)) for i in range(5)])
    prefix = cache.prefix("wf/run", 3)
    assert prefix is not None
    assert [m.content for m in prefix] == ["0", "1", "2"]
    assert cache.prefix("wf/run", 4) is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_cache_evicts_the_least_recently_used_conversation() -> None:
    """Past its bound, the cache forgets the conversation used longest ago."""
    cache = TranscriptCache(max_conversations=2)
    cache.store("a", [])
    cache.store("b", [])
    assert cache.prefix("a", 0) is not None
    cache.store("c", [])
    assert cache.prefix("b", 0) is None
    assert cache.prefix("a", 0) is not None
    assert len(cache) == 2


def test_cache_is_bounded_in_bytes_and_drops_the_least_recent_first() -> None:
    """Past its byte bound the cache forgets conversations, least recently used first, until
    it fits; growing a held list in place (as the activity does) is weighed too."""
    big = "x" * 10_000
    cache = TranscriptCache(max_bytes=25_000)
    cache.store("a", [_msg("user", big)])
    held = [_msg("user", big)]
    cache.store("b", held)
    assert cache.prefix("a", 1) is not None  # a is now the more recent
    held.append(_msg("assistant", big))  # b grows past the bound, in place
    cache.store("b", held)
    assert cache.prefix("a", 1) is None  # the least recent went, and b then fits
    assert cache.size_bytes == 2 * message_bytes(_msg("user", big))
    reheld = cache.prefix("b", 2)
    assert reheld is not None
    reheld.append(_msg("assistant", big))  # one conversation alone over the bound
    cache.store("b", reheld)
    assert cache.prefix("b", 3) is None
    assert cache.size_bytes == 0
    cache.store("c", [_msg("user", "small")])
    assert cache.size_bytes == message_bytes(_msg("user", "small"))
    assert cache.prefix("c", 1) is not None


def test_produced_messages_are_bounded_to_a_quarter_of_the_bytes() -> None:
    """Messages kept for the next request's references take at most a quarter of the byte
    bound; the oldest go first, and replacing one does not count it twice."""
    cache = TranscriptCache(max_bytes=40_000)
    for i in range(3):
        cache.remember(f"k{i}", _msg("tool", "y" * 4_000))
    cache.remember("k2", _msg("tool", "y" * 4_000))
    assert cache.recall("k0") is None  # 3 x ~4.4 KB > 10 KB: the oldest went
    assert cache.recall("k1") is not None
    assert cache.recall("k2") is not None
    assert cache.size_bytes == 2 * message_bytes(_msg("tool", "y" * 4_000))


def test_the_whole_cache_conversations_and_produced_messages_stays_within_its_bound() -> None:
    """Produced messages count against the byte bound too: conversations are dropped until
    both together fit, so a worker never holds more than AGENTIC_LOOP_CACHE_MB says."""
    cache = TranscriptCache(max_bytes=40_000)
    cache.remember("k0", _msg("tool", "y" * 9_000))  # about a quarter of the bound
    for key in "abcd":
        cache.store(key, [_msg("user", "x" * 9_000)])
    assert cache.size_bytes <= 40_000
    assert cache.recall("k0") is not None  # the produced message stayed
    assert cache.prefix("a", 1) is None  # the oldest conversation made room
    assert cache.prefix("d", 1) is not None


async def test_a_held_prefix_whose_reference_is_gone_counts_as_a_miss() -> None:
    """When the conversation is cached but a message the request refers to is not, the
    activity reads the transcript back: counted as a miss, not a hit."""
    cache = TranscriptCache()
    activities = LLMActivities(RecordingLLM(), default_registry(), cache)
    cache.store("conv", [_msg("system", "s"), _msg("user", "u")])
    request = LLMRequest(2, 2, [], conversation_id="conv", recorded=[MessageRef(0, "nowhere", 0)])
    fetched = [_msg("system", "s"), _msg("user", "u"), _msg("assistant", "a")]

    async def fetch(workflow_id: str, run_id: str | None, length: int) -> list[Message]:
        return fetched[:length]

    with mock.patch("agentic_loop.activities._fetch_transcript", fetch):
        messages = await ActivityEnvironment().run(activities._conversation, request)
    assert messages == fetched
    assert (cache.hits, cache.misses) == (0, 1)


async def test_a_referenced_message_is_taken_from_the_cache_only_if_it_is_the_same() -> None:
    """A delta's reference resolves to the cached message with the same checksum; a missing
    or different copy makes the activity treat the delta as not held here."""
    cache = TranscriptCache()
    activities = LLMActivities(RecordingLLM(), default_registry(), cache)
    tool = Message(role="tool", content="84", tool_call_id="c1", name="calculator")
    cache.remember("wf/1/c1/result", tool)
    ref = MessageRef(position=1, key="wf/1/c1/result", checksum=message_checksum(tool))
    request = LLMRequest(2, 2, [_msg("assistant", "a")], recorded=[ref])
    assert activities._delta(request) == [_msg("assistant", "a"), tool]
    stale = LLMRequest(2, 2, [_msg("assistant", "a")], recorded=[
        MessageRef(position=1, key="wf/1/c1/result", checksum=ref.checksum + 1)
    ])  # fmt: skip
    assert activities._delta(stale) is None
    missing = LLMRequest(2, 2, [], recorded=[MessageRef(0, "nowhere", 0)])
    assert activities._delta(missing) is None


async def test_run_tool_keeps_its_result_for_the_next_llm_request() -> None:
    """The tool activity caches the message the workflow will append, under its key."""
    cache = TranscriptCache()
    request = ToolRequest(
        call=ToolCall(id="c1", name="calculator", arguments='{"expression": "2 + 2"}'),
        idempotency_key="wf/1/c1",
    )
    result = await ActivityEnvironment().run(
        ToolActivities(default_registry(), cache).run_tool, request
    )
    assert cache.recall(tool_result_key("wf/1/c1")) == tool_message(result)
