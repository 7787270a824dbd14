"""AnthropicProvider against recorded Messages API bodies, served by respx: no network.

The bodies are in fixtures/anthropic/ (its README says where each was recorded).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm import provider_from_settings
from agentic_loop.llm.anthropic import DEFAULT_MAX_TOKENS, AnthropicProvider
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.errors import ProviderError
from agentic_loop.telemetry.logs import secrets_of
from agentic_loop.types import AgentInput, LLMTurn, Message, ToolCall, Usage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"
BASE_URL = "https://api.anthropic.test"
API_KEY = "sk-ant-test-0123456789abcdefTOPSECRET"
MODEL = "claude-sonnet-4-5"
SONNET = "claude-sonnet-4-5-20250929"

CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
            "additionalProperties": False,
        },
    },
}

QUESTION = [Message(role="user", content="What is 12 * 7?")]


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def fixture_response(name: str, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=fixture_json(name), headers=headers)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    # assert_all_called: a test whose route was never hit fails at teardown.
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        yield router


@pytest.fixture
async def provider() -> AsyncIterator[AnthropicProvider]:
    llm = AnthropicProvider(api_key=API_KEY, model=MODEL, base_url=BASE_URL, timeout=60.0)
    yield llm
    await llm.aclose()


def messages(api: respx.MockRouter) -> respx.Route:
    return api.post("/v1/messages")


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    """The JSON body of the route's index-th request."""
    data: dict[str, Any] = json.loads(route.calls[index].request.content)
    return data


async def fail(
    provider: AnthropicProvider, request: CompletionRequest | None = None
) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.complete(request or CompletionRequest(messages=QUESTION))
    return caught.value


# --- responses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        pytest.param(
            "text_answer",
            LLMTurn(
                content=fixture_json("text_answer")["content"][0]["text"],
                finish_reason="stop",
                usage=Usage(14, 65, 79),
                model=SONNET,
            ),
            id="text",
        ),
        pytest.param(
            "tool_use",
            LLMTurn(
                tool_calls=[
                    ToolCall(
                        id="toolu_01A73Ko8diCmNfpop86iruFS",
                        name="search_database",
                        arguments='{"query": "cities in Europe"}',
                    )
                ],
                finish_reason="tool_calls",
                usage=Usage(557, 55, 612),
                model=SONNET,
            ),
            id="one-tool-use",
        ),
        pytest.param(
            "two_tool_uses",
            LLMTurn(
                tool_calls=[
                    ToolCall(
                        id="toolu_01XhRHVXkKSCMGnaoHjpKax8",
                        name="lookup_country",
                        arguments='{"city": "Tokyo"}',
                    ),
                    ToolCall(
                        id="toolu_01DrZpF6pdh3dMMQ2rLTeM3E",
                        name="get_founded_year",
                        arguments='{"city": "Tokyo"}',
                    ),
                ],
                finish_reason="tool_calls",
                usage=Usage(797, 91, 888),
                model=SONNET,
            ),
            id="two-tool-uses",
        ),
        pytest.param(
            "text_and_tool_use",
            LLMTurn(
                content="I'll check the weather in Amsterdam for you.",
                tool_calls=[
                    ToolCall(
                        id="toolu_01UaDMN725vkJqkK44k4Dzs1",
                        name="get_weather",
                        arguments='{"city": "Amsterdam"}',
                    )
                ],
                finish_reason="tool_calls",
                usage=Usage(377, 64, 441),
                model="claude-sonnet-4-20250514",
            ),
            id="text-and-tool-use",
        ),
        pytest.param(
            "text_and_four_tool_uses",
            LLMTurn(
                content=fixture_json("text_and_four_tool_uses")["content"][0]["text"],
                tool_calls=[
                    ToolCall(id=i, name="retrieve_entity_info", arguments=f'{{"name": "{n}"}}')
                    for i, n in [
                        ("toolu_0167cfEnoQaPviGdVXA95zcu", "Alice"),
                        ("toolu_01EEe2V5HD1Ac4rKiUR4HD2T", "Bob"),
                        ("toolu_01XFyAjstT3966qvRynZyVPo", "Charlie"),
                        ("toolu_013mnQZbgtK2oe3Mo3XKJsx3", "Daisy"),
                    ]
                ],
                finish_reason="tool_calls",
                usage=Usage(423, 202, 625),
                model="claude-haiku-4-5-20251001",
            ),
            id="text-and-four-tool-uses",
        ),
        pytest.param(
            "max_tokens",
            LLMTurn(
                content=fixture_json("max_tokens")["content"][0]["text"],
                finish_reason="length",
                usage=Usage(450, 124, 574),
                model="claude-3-7-sonnet-20250219",
            ),
            id="max-tokens-drops-the-cut-tool-call",
        ),
        pytest.param(
            "refusal",
            LLMTurn(
                finish_reason="refusal",
                refusal="This request was refused due to policy.",
                usage=Usage(20, 0, 20),
                model="claude-opus-4-7",
            ),
            id="refusal",
        ),
        pytest.param(
            "cache_usage",
            LLMTurn(
                content=fixture_json("cache_usage")["content"][0]["text"],
                finish_reason="stop",
                usage=Usage(3 + 418 + 1111, 33, 3 + 418 + 1111 + 33),
                model=SONNET,
            ),
            id="cache-reads-and-writes-count-as-prompt",
        ),
    ],
)
async def test_response_maps_to_llm_turn(
    api: respx.MockRouter, provider: AnthropicProvider, fixture: str, expected: LLMTurn
) -> None:
    """Each recorded Messages API reply becomes exactly the expected LLMTurn."""
    route = messages(api).mock(return_value=fixture_response(fixture))
    turn = await provider.complete(CompletionRequest(messages=QUESTION, tools=[CALCULATOR]))
    assert route.call_count == 1
    assert turn == expected


async def test_stop_sequence_is_a_stop(api: respx.MockRouter, provider: AnthropicProvider) -> None:
    """stop_reason "stop_sequence" ends a turn like "end_turn": finish_reason "stop"."""
    body = fixture_json("text_answer")
    body["stop_reason"] = "stop_sequence"
    route = messages(api).mock(return_value=httpx.Response(200, json=body))
    turn = await provider.complete(CompletionRequest(messages=QUESTION))
    assert route.called
    assert (turn.finish_reason, turn.refusal) == ("stop", None)


async def test_refusal_without_explanation_still_reads_as_a_refusal(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """A refusal without stop_details (older API versions) is still a refusal, in words."""
    body = fixture_json("refusal")
    del body["stop_details"]
    route = messages(api).mock(return_value=httpx.Response(200, json=body))
    turn = await provider.complete(CompletionRequest(messages=QUESTION))
    assert route.called
    assert turn.refusal is not None
    assert "refusal" in turn.refusal


# --- requests -------------------------------------------------------------------------------

CONVERSATION = [
    Message(role="system", content="You are a careful assistant. Use tools for arithmetic."),
    Message(role="user", content="What is 12 * 7, and what is Temporal?"),
    Message(
        role="assistant",
        content="",
        tool_calls=[
            ToolCall(id="toolu_01", name="calculator", arguments='{"expression": "12 * 7"}'),
            ToolCall(id="toolu_02", name="web_search", arguments='{"query": "Temporal"'),
        ],
    ),
    Message(role="tool", content="84", tool_call_id="toolu_01", name="calculator"),
    Message(
        role="tool",
        content="arguments are not valid JSON",
        tool_call_id="toolu_02",
        name="web_search",
        is_error=True,
    ),
    Message(
        role="assistant",
        content="Let me search again.",
        tool_calls=[ToolCall(id="toolu_03", name="web_search", arguments='{"query": "Temporal"}')],
    ),
    Message(role="tool", content="Temporal is ...", tool_call_id="toolu_03", name="web_search"),
    Message(role="assistant", content="12 * 7 = 84; Temporal is a durable execution platform."),
    # The loop's nudge after an empty reply: the empty reply itself cannot be sent.
    Message(role="assistant", content=""),
    Message(role="user", content="Thanks! Now explain it."),
]


async def test_request_body_maps_the_transcript_to_the_messages_api(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """The system prompt goes top-level, tool calls become tool_use blocks, a turn's tool
    results one user message of tool_result blocks (is_error kept), tool schemas Anthropic's."""
    route = messages(api).mock(return_value=fixture_response("text_answer"))
    await provider.complete(
        CompletionRequest(messages=CONVERSATION, tools=[CALCULATOR], model="claude-haiku-4-5")
    )
    assert route.call_count == 1
    assert sent(route) == {
        "model": "claude-haiku-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "system": "You are a careful assistant. Use tools for arithmetic.",
        "tools": [
            {
                "name": "calculator",
                "description": "Evaluate an arithmetic expression.",
                "input_schema": CALCULATOR["function"]["parameters"],  # type: ignore[index]
            }
        ],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is 12 * 7, and what is Temporal?"}],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_01",
                        "name": "calculator",
                        "input": {"expression": "12 * 7"},
                    },
                    # Malformed arguments cannot be sent as an object: an empty one stands in.
                    {"type": "tool_use", "id": "toolu_02", "name": "web_search", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "84"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02",
                        "content": "arguments are not valid JSON",
                        "is_error": True,
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me search again."},
                    {
                        "type": "tool_use",
                        "id": "toolu_03",
                        "name": "web_search",
                        "input": {"query": "Temporal"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_03", "content": "Temporal is ..."}
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "text",
                        "text": "12 * 7 = 84; Temporal is a durable execution platform.",
                    }
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": "Thanks! Now explain it."}]},
        ],
    }


async def test_tool_results_then_a_user_message_share_one_user_turn(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """A user message right after tool results joins their user message, results first, so
    user and assistant turns alternate as the API requires."""
    route = messages(api).mock(return_value=fixture_response("text_answer"))
    call = ToolCall(id="toolu_01", name="calculator", arguments='{"expression": "5 + 3"}')
    transcript = [
        Message(role="user", content="5 + 3?"),
        Message(role="assistant", tool_calls=[call]),
        Message(role="tool", content="8", tool_call_id="toolu_01", name="calculator"),
        Message(role="user", content="and plus 16?"),
    ]
    await provider.complete(CompletionRequest(messages=transcript))
    last = sent(route)["messages"][-1]
    assert [m["role"] for m in sent(route)["messages"]] == ["user", "assistant", "user"]
    assert last["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "8"},
        {"type": "text", "text": "and plus 16?"},
    ]


async def test_tool_arguments_round_trip_as_json(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """A tool_use input read from a reply is sent back as the same object, Korean intact."""
    body = fixture_json("tool_use")
    body["content"][0]["input"] = {"query": "서울 날씨", "limit": 3}
    route = messages(api).mock(
        side_effect=[httpx.Response(200, json=body), fixture_response("text_answer")]
    )
    turn = await provider.complete(CompletionRequest(messages=QUESTION))
    assert turn.tool_calls[0].arguments == '{"query": "서울 날씨", "limit": 3}'
    answer = Message(role="tool", content="맑음", tool_call_id=turn.tool_calls[0].id)
    transcript = [*QUESTION, Message(role="assistant", tool_calls=turn.tool_calls), answer]
    await provider.complete(CompletionRequest(messages=transcript))
    assert route.call_count == 2
    assert sent(route)["messages"][1]["content"][0]["input"] == {"query": "서울 날씨", "limit": 3}


async def test_request_without_tools_or_system_omits_them(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """With no tools and no system prompt, neither is sent, and the provider's model is used."""
    route = messages(api).mock(return_value=fixture_response("text_answer"))
    await provider.complete(CompletionRequest(messages=QUESTION))
    assert sent(route) == {
        "model": MODEL,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is 12 * 7?"}]}],
    }


async def test_max_tokens_is_configurable(api: respx.MockRouter) -> None:
    """The required max_tokens is the provider's setting, sent with every request."""
    route = messages(api).mock(return_value=fixture_response("text_answer"))
    llm = AnthropicProvider(api_key=API_KEY, model=MODEL, base_url=BASE_URL, max_tokens=512)
    try:
        await llm.complete(CompletionRequest(messages=QUESTION))
    finally:
        await llm.aclose()
    assert sent(route)["max_tokens"] == 512


def test_max_tokens_must_be_positive() -> None:
    """A max_tokens below 1 is refused when the provider is built, with the fix in words."""
    with pytest.raises(ConfigError, match="max_tokens=0"):
        AnthropicProvider(api_key=API_KEY, model=MODEL, max_tokens=0)


async def test_api_key_is_sent_in_one_auth_header_with_the_api_version(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """The key travels in one header only (x-api-key, or Authorization: Bearer as anthropic
    2.15 sends it), beside the anthropic-version header the API requires."""
    route = messages(api).mock(return_value=fixture_response("text_answer"))
    await provider.complete(CompletionRequest(messages=QUESTION))
    headers = route.calls.last.request.headers
    carrying = {name: value for name, value in headers.items() if API_KEY in value}
    assert carrying in ({"x-api-key": API_KEY}, {"authorization": f"Bearer {API_KEY}"})
    assert headers["anthropic-version"]
    assert API_KEY not in route.calls.last.request.content.decode()


async def test_unknown_role_is_refused_before_sending(provider: AnthropicProvider) -> None:
    """A role the Messages API does not know is a programming error, raised before sending."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        route = messages(router).mock(return_value=fixture_response("text_answer"))
        with pytest.raises(ValueError, match="developer"):
            await provider.complete(CompletionRequest(messages=[Message(role="developer")]))
    assert not route.called


# --- errors ---------------------------------------------------------------------------------

RETRYABLE = [
    ("error_429_rate_limit", 429),
    ("error_500_api_error", 500),
    ("error_529_overloaded", 529),
]

PERMANENT = [
    ("error_400_invalid_request", 400, "ANTHROPIC_MODEL"),
    ("error_401_authentication", 401, "ANTHROPIC_API_KEY"),
    ("error_404_not_found", 404, "ANTHROPIC_MODEL"),
]


def provider_message(fixture: str) -> str:
    message: str = fixture_json(fixture)["error"]["message"]
    return message


@pytest.mark.parametrize(("fixture", "status"), RETRYABLE)
async def test_rate_limit_and_server_errors_are_retryable(
    api: respx.MockRouter, provider: AnthropicProvider, fixture: str, status: int
) -> None:
    """429 rate_limit_error, 500 api_error and 529 overloaded_error become retryable errors
    with the API's message."""
    route = messages(api).mock(return_value=fixture_response(fixture, status))
    error = await fail(provider)
    assert route.call_count == 1
    assert error.retryable
    assert error.status_code == status
    assert error.message == provider_message(fixture)


@pytest.mark.parametrize(("fixture", "status", "variable"), PERMANENT)
async def test_client_errors_are_permanent_and_name_anthropic_variables(
    api: respx.MockRouter, provider: AnthropicProvider, fixture: str, status: int, variable: str
) -> None:
    """400, 401 and 404 end the run with the API's message and a hint naming the ANTHROPIC_
    variable to fix, never an OpenAI one."""
    route = messages(api).mock(return_value=fixture_response(fixture, status))
    error = await fail(provider)
    assert route.call_count == 1
    assert not error.retryable
    assert error.status_code == status
    assert error.message == provider_message(fixture)
    assert variable in str(error)
    assert "OPENAI" not in str(error)


async def test_403_is_permanent_and_names_the_key_and_model(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """A 403 permission_error is not retried, and its hint names both variables."""
    body = {"type": "error", "error": {"type": "permission_error", "message": "not allowed"}}
    route = messages(api).mock(return_value=httpx.Response(403, json=body))
    error = await fail(provider)
    assert route.called
    assert not error.retryable
    assert "ANTHROPIC_API_KEY" in str(error)
    assert "ANTHROPIC_MODEL" in str(error)


@pytest.mark.parametrize(
    ("message", "code", "hint"),
    [
        (
            "prompt is too long: 215733 tokens > 200000 maximum",
            "context_length_exceeded",
            "context",
        ),
        (
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
            "Billing to upgrade or purchase credits.",
            "insufficient_quota",
            "billing",
        ),
    ],
    ids=["prompt-too-long", "credit-balance"],
)
async def test_permanent_conditions_told_only_in_words_get_their_code(
    api: respx.MockRouter, provider: AnthropicProvider, message: str, code: str, hint: str
) -> None:
    """A 400 saying the prompt is too long or the credit is used up gets errors.py's code and
    hint for it (context window, billing), not the generic one."""
    body = fixture_json("error_400_invalid_request")
    body["error"]["message"] = message
    route = messages(api).mock(return_value=httpx.Response(400, json=body))
    error = await fail(provider)
    assert route.called
    assert not error.retryable
    assert error.code == code
    assert hint in (error.hint or "")


async def test_an_html_error_page_is_retryable_with_its_text(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """A proxy's 502 HTML page is retried, with the page's text as the message."""
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    route = messages(api).mock(
        return_value=httpx.Response(502, text=page, headers={"content-type": "text/html"})
    )
    error = await fail(provider)
    assert route.called
    assert error.retryable
    assert error.message == page


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "20"}, 20.0),
        ({"retry-after-ms": "1500"}, 1.5),
        (
            {
                "date": "Tue, 01 Dec 2026 20:00:00 GMT",
                "anthropic-ratelimit-input-tokens-remaining": "0",
                "anthropic-ratelimit-input-tokens-reset": "2026-12-01T20:00:45Z",
                "anthropic-ratelimit-requests-remaining": "49",
                "anthropic-ratelimit-requests-reset": "2026-12-01T20:00:01Z",
            },
            45.0,
        ),
    ],
    ids=["retry-after", "retry-after-ms", "exhausted-anthropic-ratelimit"],
)
async def test_rate_limit_headers_set_the_retry_delay(
    api: respx.MockRouter, provider: AnthropicProvider, headers: dict[str, str], expected: float
) -> None:
    """retry-after, retry-after-ms and the reset of an exhausted anthropic-ratelimit limit
    on a 429 set the error's retry_after."""
    route = messages(api).mock(
        return_value=fixture_response("error_429_rate_limit", 429, **headers)
    )
    error = await fail(provider)
    assert route.called
    assert error.retryable
    assert error.retry_after == expected


async def test_x_should_retry_false_makes_a_429_permanent(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """The API's own x-should-retry: false wins over the retryable 429 status."""
    route = messages(api).mock(
        return_value=fixture_response("error_429_rate_limit", 429, **{"x-should-retry": "false"})
    )
    error = await fail(provider)
    assert route.called
    assert not error.retryable


async def test_read_timeout_is_retryable(api: respx.MockRouter) -> None:
    """An httpx read timeout becomes a retryable error saying how long it waited."""
    route = messages(api).mock(side_effect=httpx.ReadTimeout("timed out"))
    llm = AnthropicProvider(api_key=API_KEY, model=MODEL, base_url=BASE_URL, timeout=12.5)
    try:
        error = await fail(llm)
    finally:
        await llm.aclose()
    assert route.call_count == 1
    assert error.retryable
    assert error.status_code is None
    assert "timed out after 12.5s" in error.message


async def test_connect_error_is_retryable_and_names_the_server(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """A refused connection becomes a retryable error naming the base URL it tried."""
    route = messages(api).mock(side_effect=httpx.ConnectError("connection refused"))
    error = await fail(provider)
    assert route.call_count == 1
    assert error.retryable
    assert error.status_code is None
    assert error.message == f"could not connect to {BASE_URL}: connection refused"


def error_strings(error: ProviderError) -> list[str]:
    return [str(error), repr(error), error.message, error.hint or "", *map(str, error.args)]


@pytest.mark.parametrize(
    ("outcome"),
    [
        httpx.Response(
            401,
            json={
                "type": "error",
                "error": {"type": "authentication_error", "message": f"bad key {API_KEY}"},
            },
        ),
        httpx.ReadTimeout(f"timed out talking with key {API_KEY}"),
        httpx.ConnectError(f"refused for key {API_KEY}"),
    ],
    ids=["401-echoing-the-key", "timeout", "connect"],
)
async def test_api_key_never_appears_in_errors(
    api: respx.MockRouter, provider: AnthropicProvider, outcome: httpx.Response | Exception
) -> None:
    """No ProviderError contains the key, even when the server or the cause quotes it."""
    if isinstance(outcome, httpx.Response):
        route = messages(api).mock(return_value=outcome)
    else:
        route = messages(api).mock(side_effect=outcome)
    error = await fail(provider)
    assert route.called
    for text in error_strings(error):
        assert API_KEY not in text
    if isinstance(outcome, httpx.Response):
        assert error.message == "bad key [redacted]"


# --- retries, configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    "outcome",
    [
        fixture_response("error_529_overloaded", 529, **{"x-should-retry": "true"}),
        fixture_response("error_429_rate_limit", 429, **{"retry-after": "1"}),
        httpx.ConnectError("connection refused"),
    ],
    ids=["529", "429", "connect"],
)
async def test_sdk_never_retries(
    api: respx.MockRouter, provider: AnthropicProvider, outcome: httpx.Response | Exception
) -> None:
    """max_retries is 0: each complete() sends exactly one request, leaving retries to Temporal."""
    if isinstance(outcome, httpx.Response):
        route = messages(api).mock(return_value=outcome)
    else:
        route = messages(api).mock(side_effect=outcome)
    assert provider._client.max_retries == 0
    await fail(provider)
    assert route.call_count == 1
    await fail(provider)
    assert route.call_count == 2


async def test_settings_pick_the_key_model_and_server() -> None:
    """ANTHROPIC_API_KEY alone picks Anthropic, and ANTHROPIC_BASE_URL and ANTHROPIC_MODEL
    pick the server and the model."""
    base_url = "https://llm-gateway.internal.test/anthropic"
    settings = Settings.from_env(
        {
            "ANTHROPIC_API_KEY": API_KEY,
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_MODEL": "claude-haiku-4-5",
        }
    )
    assert settings.llm_choice == "anthropic"
    llm = provider_from_settings(settings)
    assert isinstance(llm, AnthropicProvider)
    try:
        with respx.mock(base_url=base_url, assert_all_called=True) as router:
            route = messages(router).mock(return_value=fixture_response("text_answer"))
            await llm.complete(CompletionRequest(messages=QUESTION))
    finally:
        await llm.aclose()
    request = route.calls.last.request
    assert str(request.url) == f"{base_url}/v1/messages"
    assert json.loads(request.content)["model"] == "claude-haiku-4-5"
    assert (llm.name, llm.default_model) == ("anthropic", "claude-haiku-4-5")


@pytest.mark.parametrize(
    ("env", "choice"),
    [
        ({"OPENAI_API_KEY": "sk-openai", "ANTHROPIC_API_KEY": API_KEY}, "openai"),
        ({"ANTHROPIC_API_KEY": API_KEY}, "anthropic"),
        ({"ANTHROPIC_API_KEY": API_KEY, "AGENTIC_LOOP_LLM": "fake"}, "fake"),
        ({}, "fake"),
    ],
    ids=["both-keys-openai-wins", "anthropic-key-only", "named-choice-wins", "no-key"],
)
def test_llm_choice_follows_the_keys(env: dict[str, str], choice: str) -> None:
    """OpenAI's key wins when both are set; Anthropic's alone picks Anthropic; a named
    AGENTIC_LOOP_LLM wins over both."""
    assert Settings.from_env(env).llm_choice == choice


def test_the_key_is_hidden_from_settings_repr_and_logs() -> None:
    """ANTHROPIC_API_KEY is not in the settings' repr, and is among the secrets logs mask."""
    settings = Settings.from_env({"ANTHROPIC_API_KEY": API_KEY})
    assert API_KEY not in repr(settings)
    assert API_KEY in secrets_of(settings)


async def test_default_base_url_is_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a base URL the provider talks to api.anthropic.com, ignoring the SDK's own
    environment lookup."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://must-not-be-used.test")
    llm = AnthropicProvider(api_key=API_KEY, model=MODEL)
    try:
        with respx.mock(base_url="https://api.anthropic.com", assert_all_called=True) as router:
            route = messages(router).mock(return_value=fixture_response("text_answer"))
            await llm.complete(CompletionRequest(messages=QUESTION))
    finally:
        await llm.aclose()
    assert route.call_count == 1


async def test_a_lent_http_client_is_used_and_left_open(api: respx.MockRouter) -> None:
    """A caller's httpx client carries the requests, and aclose() does not close it."""
    route = messages(api).mock(return_value=fixture_response("text_answer"))
    async with httpx.AsyncClient(timeout=5.0) as client:
        llm = AnthropicProvider(api_key=API_KEY, model=MODEL, base_url=BASE_URL, http_client=client)
        await llm.complete(CompletionRequest(messages=QUESTION))
        await llm.aclose()
        assert not client.is_closed
    assert route.call_count == 1


def test_from_settings_without_a_key_says_what_to_set() -> None:
    """Choosing Anthropic without ANTHROPIC_API_KEY fails with a sentence naming the variable."""
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        provider_from_settings(Settings.from_env({"AGENTIC_LOOP_LLM": "anthropic"}))


async def test_a_gzip_encoded_reply_is_read_once(
    api: respx.MockRouter, provider: AnthropicProvider
) -> None:
    """A gzip-compressed reply (as the API sends one) is decoded once, on the httpx side, and
    read as the same turn as the plain body."""
    raw = gzip.compress(json.dumps(fixture_json("text_answer")).encode())
    route = messages(api).mock(
        return_value=httpx.Response(
            200,
            content=raw,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
    )
    turn = await provider.complete(CompletionRequest(messages=QUESTION))
    assert route.called
    assert turn.content == fixture_json("text_answer")["content"][0]["text"]


async def test_the_providers_timeout_reaches_the_http_request(api: respx.MockRouter) -> None:
    """The provider's timeout (shorter than the LLM activity's) is the one the HTTP request
    is sent with, so a hung request ends as a retryable timeout with its reason first."""
    seen: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return fixture_response("text_answer")

    route = messages(api).mock(side_effect=answer)
    # A lent client with a timeout of its own: the provider's must still be the one used.
    async with httpx.AsyncClient(timeout=99.0) as client:
        llm = AnthropicProvider(
            api_key=API_KEY, model=MODEL, base_url=BASE_URL, timeout=12.5, http_client=client
        )
        await llm.complete(CompletionRequest(messages=QUESTION))
        await llm.aclose()
    assert route.called
    assert seen[0]["read"] == 12.5
    assert llm.timeout < AgentInput(goal="x").llm_timeout_seconds
