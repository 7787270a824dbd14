"""OpenAI-compatible servers as they really answer: shapes the official API never sends but
Ollama, vLLM, LM Studio and older servers do. Each body is a recorded one of fixtures/openai
(tool_call.json, text_answer.json) changed the way such servers change it."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.openai import OpenAIProvider
from agentic_loop.types import Message, ToolCall

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai"
BASE_URL = "https://compatible.test/v1"
CALL = ToolCall(
    id="call_Xk3vPq9LmR2tYw8ZbN4cJd7s", name="calculator", arguments='{"expression":"12 * 7"}'
)
ANSWER = "12 × 7 = 84. Multiplying 12 by 7 is the same as adding 12 seven times."


def recorded(name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(
        json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    )
    change(data)
    return data


def _message(data: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = data["choices"][0]["message"]
    return message


def without_type(data: dict[str, Any]) -> None:
    del _message(data)["tool_calls"][0]["type"]


def legacy_function_call(data: dict[str, Any]) -> None:
    message = _message(data)
    message["function_call"] = message.pop("tool_calls")[0]["function"]
    data["choices"][0]["finish_reason"] = "function_call"


def empty_tool_calls_with_text(data: dict[str, Any]) -> None:
    _message(data)["tool_calls"] = []
    data["choices"][0]["finish_reason"] = "tool_calls"


def second_choice(data: dict[str, Any]) -> None:
    other = copy.deepcopy(data["choices"][0])
    other["index"] = 1
    other["message"]["content"] = "another candidate"
    data["choices"].append(other)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=True, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
async def provider() -> AsyncIterator[OpenAIProvider]:
    llm = OpenAIProvider(api_key="sk-compatible", model="local", base_url=BASE_URL)
    yield llm
    await llm.aclose()


async def _turn(api: respx.MockRouter, provider: OpenAIProvider, body: dict[str, Any]) -> Any:
    api.post("/chat/completions").mock(return_value=httpx.Response(200, json=body))
    question = [Message(role="user", content="What is 12 * 7?")]
    return await provider.complete(CompletionRequest(messages=question))


async def test_a_tool_call_without_type_is_a_tool_call(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """A tool call whose "type" is left out is read as the function call it is, not an
    internal error that Temporal would retry five times."""
    turn = await _turn(api, provider, recorded("tool_call", without_type))
    assert turn.tool_calls == [CALL]
    assert turn.finish_reason == "tool_calls"


async def test_the_legacy_function_call_is_a_tool_call(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """`function_call` (no tool_calls) becomes one tool call with an id of the response's,
    instead of an empty reply."""
    body = recorded("tool_call", legacy_function_call)
    turn = await _turn(api, provider, body)
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [(CALL.name, CALL.arguments)]
    assert turn.tool_calls[0].id == f"call_{body['id']}"
    assert turn.finish_reason == "tool_calls"


async def test_empty_tool_calls_with_text_is_a_text_answer(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """`tool_calls: []` beside text is the text answer."""
    turn = await _turn(api, provider, recorded("text_answer", empty_tool_calls_with_text))
    assert (turn.tool_calls, turn.content) == ([], ANSWER)


async def test_with_several_choices_the_first_is_taken(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """A server answering with n > 1 choices: the loop follows the first."""
    turn = await _turn(api, provider, recorded("text_answer", second_choice))
    assert turn.content == ANSWER
