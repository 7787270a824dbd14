"""The two deterministic fakes: ScriptedLLM for tests, RuleBasedLLM for the offline demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.errors import ProviderError
from agentic_loop.llm.rule_based import RuleBasedLLM, find_expression, find_search_query
from agentic_loop.llm.scripted import ScriptedLLM, ScriptError
from agentic_loop.tools import default_registry
from agentic_loop.types import Message, ToolCall
from support import SCRIPTS

TOOLS = default_registry().schemas()


def _request(*messages: Message, attempt: int = 1, tools: bool = True) -> CompletionRequest:
    return CompletionRequest(messages=list(messages), tools=TOOLS if tools else [], attempt=attempt)


def _user(text: str) -> Message:
    return Message(role="user", content=text)


async def test_scripted_plays_turns_by_the_number_of_assistant_messages() -> None:
    """The turn played is chosen by the conversation, so a retry or a new process replays it."""
    llm = ScriptedLLM.from_file(SCRIPTS / "seed.json")
    first = await llm.complete(_request(_user("5 + 3을 계산하고")))
    assert first.tool_calls[0].name == "calculator"
    again = await llm.complete(_request(_user("5 + 3을 계산하고")))
    assert again == first
    assistant = Message(role="assistant", tool_calls=first.tool_calls)
    tool = Message(role="tool", content="8", tool_call_id=first.tool_calls[0].id, name="calculator")
    second = await llm.complete(_request(_user("5 + 3을 계산하고"), assistant, tool))
    assert "8" in second.content
    assert second.finish_reason == "stop"


async def test_scripted_raises_naming_the_message_when_the_conversation_departs() -> None:
    """A last message that does not match the script's expectation fails loudly, naming it."""
    llm = ScriptedLLM.from_file(SCRIPTS / "seed.json")
    with pytest.raises(ProviderError) as caught:
        await llm.complete(_request(_user("something else entirely")))
    assert "something else entirely" in str(caught.value)
    assert not caught.value.retryable


async def test_scripted_raises_when_asked_for_more_turns_than_it_has() -> None:
    """Running past the end of the script is an error naming the turn and the last message."""
    llm = ScriptedLLM.from_data({"turns": [{"content": "only one"}]})
    assistant = Message(role="assistant", content="only one")
    with pytest.raises(ProviderError, match="turn 2") as caught:
        await llm.complete(_request(_user("hi"), assistant, _user("and then?")))
    assert "and then?" in str(caught.value)


async def test_scripted_faults_follow_the_attempt_number() -> None:
    """A fault of `times: 2` fails attempts 1 and 2 (retryable, with retry-after) and not 3."""
    llm = ScriptedLLM.from_data(
        {"turns": [{"faults": [{"status": 429, "times": 2, "retry_after": 7}], "content": "ok"}]}
    )
    for attempt in (1, 2):
        with pytest.raises(ProviderError) as caught:
            await llm.complete(_request(_user("x"), attempt=attempt))
        assert caught.value.retryable
        assert caught.value.retry_after == 7
    assert (await llm.complete(_request(_user("x"), attempt=3))).content == "ok"


async def test_scripted_non_retryable_fault_is_classified_by_the_shared_taxonomy() -> None:
    """A scripted 401 is a non-retryable ProviderError with the OPENAI_API_KEY hint."""
    llm = ScriptedLLM.from_file(SCRIPTS / "non_retryable_401.json")
    with pytest.raises(ProviderError) as caught:
        await llm.complete(_request(_user("x")))
    assert not caught.value.retryable
    assert "OPENAI_API_KEY" in str(caught.value)


async def test_scripted_passes_raw_string_arguments_through() -> None:
    """String arguments in a script reach the loop unparsed, so malformed JSON can be tested."""
    llm = ScriptedLLM.from_file(SCRIPTS / "malformed_args.json")
    turn = await llm.complete(_request(_user("x")))
    assert turn.tool_calls[0].arguments == '{"expression": "2 + 2"'


def test_scripted_rejects_a_malformed_script_file(tmp_path: Path) -> None:
    """Broken JSON, no turns, or a turn without a tool name are ScriptErrors naming the file."""
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{", encoding="utf-8")
    with pytest.raises(ScriptError, match=r"bad\.json"):
        ScriptedLLM.from_file(bad_json)
    with pytest.raises(ScriptError, match="turns"):
        ScriptedLLM.from_data({"turns": []})
    with pytest.raises(ScriptError, match="turn 1"):
        ScriptedLLM.from_data({"turns": [{"tool_calls": [{"arguments": {}}]}]})
    with pytest.raises(ScriptError, match="cannot read"):
        ScriptedLLM.from_file(tmp_path / "missing.json")


def test_every_script_fixture_loads() -> None:
    """Each script in fixtures/scripts parses, so a typo there fails here and not mid-test."""
    scripts = sorted(SCRIPTS.glob("*.json"))
    assert scripts
    for path in scripts:
        assert ScriptedLLM.from_file(path).turns


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘", "5 + 3"),
        ("What is (17 + 25) * 3?", "(17 + 25) * 3"),
        ("12 * 7?", "12 * 7"),
        ("Compute 2^10 for me.", "2**10"),
        ("what is 7 × 6", "7 * 6"),
        ("There are no numbers here.", None),
        ("I have 3 apples.", None),
    ],
)
def test_rule_based_finds_the_arithmetic_in_free_text(text: str, expression: str | None) -> None:
    """The planner extracts the expression a person wrote, or none when there is no arithmetic."""
    assert find_expression(text) == expression


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("Search for TypeScript best practices", "TypeScript best practices"),
        ("Please look up durable execution and explain it", "durable execution"),
        ("search the web for Temporal retries, then summarise", "Temporal retries"),
        ("Temporal 재시도 정책을 검색해줘", "Temporal 재시도 정책"),
        ("LLM 에이전트에 대해 찾아줘", "LLM 에이전트"),
        ("What is 2 + 2?", None),
    ],
)
def test_rule_based_finds_search_requests(text: str, query: str | None) -> None:
    """English and Korean search requests become a query; other text does not."""
    assert find_search_query(text) == query


async def test_rule_based_plans_a_calculator_call_then_answers_in_korean() -> None:
    """For the seed's goal: first a calculator call, then a Korean answer containing 8."""
    llm = RuleBasedLLM()
    goal = _user("5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘")
    plan = await llm.complete(_request(goal))
    assert [c.name for c in plan.tool_calls] == ["calculator"]
    assert json.loads(plan.tool_calls[0].arguments) == {"expression": "5 + 3"}
    asked = Message(role="assistant", tool_calls=plan.tool_calls)
    result = Message(
        role="tool", content="8", tool_call_id=plan.tool_calls[0].id, name="calculator"
    )
    answer = await llm.complete(_request(goal, asked, result))
    assert not answer.tool_calls
    assert "8" in answer.content
    assert "5에 3을 더하면 8이 됩니다" in answer.content


async def test_rule_based_answers_english_goals_in_english() -> None:
    """An English goal gets an English answer built from the tool result."""
    llm = RuleBasedLLM()
    goal = _user("What is (17 + 25) * 3?")
    plan = await llm.complete(_request(goal))
    asked = Message(role="assistant", tool_calls=plan.tool_calls)
    result = Message(
        role="tool", content="126", tool_call_id=plan.tool_calls[0].id, name="calculator"
    )
    answer = await llm.complete(_request(goal, asked, result))
    assert answer.content.startswith("(17 + 25) * 3 = 126.")
    assert not any("\uac00" <= ch <= "\ud7a3" for ch in answer.content)


async def test_rule_based_asks_for_both_tools_in_one_turn() -> None:
    """A goal with arithmetic and a search request yields both calls in one turn."""
    plan = await RuleBasedLLM().complete(
        _request(_user("Search for durable execution and compute 6 * 7"))
    )
    assert [c.name for c in plan.tool_calls] == ["calculator", "web_search"]
    assert len({c.id for c in plan.tool_calls}) == 2


async def test_rule_based_reports_a_refused_tool_instead_of_looping() -> None:
    """When the tool refused, the next turn is a final answer that says so."""
    llm = RuleBasedLLM()
    goal = _user("What is 1 / 0?")
    plan = await llm.complete(_request(goal))
    asked = Message(role="assistant", tool_calls=plan.tool_calls)
    refusal = Message(
        role="tool", content="division by zero", tool_call_id=plan.tool_calls[0].id,
        name="calculator", is_error=True,
    )  # fmt: skip
    answer = await llm.complete(_request(goal, asked, refusal))
    assert not answer.tool_calls
    assert "division by zero" in answer.content


async def test_rule_based_explains_what_it_can_do_when_no_rule_matches() -> None:
    """A goal with neither arithmetic nor a search gets a direct answer, not a tool call."""
    answer = await RuleBasedLLM().complete(_request(_user("Write me a poem")))
    assert not answer.tool_calls
    assert "OPENAI_API_KEY" in answer.content


async def test_rule_based_only_calls_tools_it_was_offered() -> None:
    """With no tools offered, the planner answers directly instead of naming a missing tool."""
    answer = await RuleBasedLLM().complete(_request(_user("What is 2 + 2?"), tools=False))
    assert not answer.tool_calls


async def test_rule_based_is_deterministic() -> None:
    """The same conversation gives the same turn, every time."""
    goal = _user("Search for Temporal and compute 3 * 3")
    turns = [await RuleBasedLLM().complete(_request(goal)) for _ in range(3)]
    assert turns[0] == turns[1] == turns[2]


async def test_rule_based_uses_call_ids_that_stay_unique_across_turns() -> None:
    """Tool call ids of a later turn differ from the earlier ones (idempotency keys use them)."""
    llm = RuleBasedLLM()
    first = await llm.complete(_request(_user("What is 1 + 1?")))
    earlier = Message(role="assistant", tool_calls=[ToolCall(id="x", name="calculator")])
    answer = Message(role="assistant", content="2")
    later = await llm.complete(_request(_user("a"), earlier, answer, _user("What is 2 + 2?")))
    assert first.tool_calls[0].id != later.tool_calls[0].id


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (
            "the call was rejected: too risky",
            'The web_search call did not run, because you rejected it. You said: "too risky".',
        ),
        (
            "the call was rejected (no reason given)",
            "The web_search call did not run, because you rejected it.",
        ),
        (
            "the call was rejected: no decision within 60 s",
            "The web_search call did not run: nobody approved it within 60 s.",
        ),
        (  # the words of runs recorded before this wording
            "the call was rejected: no decision within 60 s, so it counts as rejected",
            "The web_search call did not run: nobody approved it within 60 s.",
        ),
    ],
)
async def test_rule_based_says_a_rejection_was_the_persons_not_the_tools(
    content: str, said: str
) -> None:
    """A rejected call is answered as the person's rejection (with their reason, or the
    timeout), never as "the tool refused", and with no dangling colon."""
    goal = _user("search for temporal")
    plan = await RuleBasedLLM().complete(_request(goal))
    asked = Message(role="assistant", tool_calls=plan.tool_calls)
    result = Message(
        role="tool",
        content=content,
        tool_call_id=plan.tool_calls[0].id,
        name="web_search",
        is_error=True,
    )
    answer = await RuleBasedLLM().complete(_request(goal, asked, result))
    assert answer.content == said
