"""OpenAIProvider against recorded Chat Completions bodies, served by respx: no network."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.errors import ProviderError
from agentic_loop.llm.openai import OpenAIProvider
from agentic_loop.types import LLMTurn, Message, ToolCall, Usage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai"
BASE_URL = "https://api.openai.test/v1"
API_KEY = "sk-test-0123456789abcdefTOPSECRET"
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"

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
    if (FIXTURES / f"{name}.json").exists():
        return httpx.Response(status, json=fixture_json(name), headers=headers)
    html = (FIXTURES / f"{name}.html").read_text(encoding="utf-8")
    return httpx.Response(status, text=html, headers={"content-type": "text/html", **headers})


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    # assert_all_called: a test whose route was never hit fails at teardown.
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        yield router


@pytest.fixture
async def provider() -> AsyncIterator[OpenAIProvider]:
    llm = OpenAIProvider(api_key=API_KEY, model=MODEL, base_url=BASE_URL, timeout=60.0)
    yield llm
    await llm.aclose()


def completions(api: respx.MockRouter) -> respx.Route:
    return api.post("/chat/completions")


async def fail(provider: OpenAIProvider, request: CompletionRequest | None = None) -> ProviderError:
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
                content="12 × 7 = 84. Multiplying 12 by 7 is the same as adding 12 seven times.",
                finish_reason="stop",
                usage=Usage(112, 24, 136),
                model=RESPONSE_MODEL,
            ),
            id="text",
        ),
        pytest.param(
            "tool_call",
            LLMTurn(
                tool_calls=[
                    ToolCall(
                        id="call_Xk3vPq9LmR2tYw8ZbN4cJd7s",
                        name="calculator",
                        arguments='{"expression":"12 * 7"}',
                    )
                ],
                finish_reason="tool_calls",
                usage=Usage(87, 17, 104),
                model=RESPONSE_MODEL,
            ),
            id="one-tool-call",
        ),
        pytest.param(
            "two_tool_calls",
            LLMTurn(
                tool_calls=[
                    ToolCall(
                        id="call_9fTq2LmZ7xWc4RkB1vNs6Hdp",
                        name="calculator",
                        arguments='{"expression": "5 + 3"}',
                    ),
                    ToolCall(
                        id="call_Qe8Jw3Nb5Yt1Ku6Ma0Gz2Xcr",
                        name="web_search",
                        arguments='{"query": "Temporal durable execution"}',
                    ),
                ],
                finish_reason="tool_calls",
                usage=Usage(141, 58, 199),
                model=RESPONSE_MODEL,
            ),
            id="two-tool-calls",
        ),
        pytest.param(
            "malformed_arguments",
            LLMTurn(
                tool_calls=[
                    ToolCall(
                        id="call_L2mN8bVc4xZq7Wt1Ry5Ks3Pj",
                        name="calculator",
                        arguments='{"expression": "12 * 7"',
                    )
                ],
                finish_reason="tool_calls",
                usage=Usage(87, 15, 102),
                model=RESPONSE_MODEL,
            ),
            id="malformed-arguments",
        ),
        pytest.param(
            "finish_length",
            LLMTurn(
                content=(
                    "Temporal is a durable execution platform. A workflow's state is rebuilt by"
                ),
                finish_reason="length",
                usage=Usage(64, 16, 80),
                model=RESPONSE_MODEL,
            ),
            id="length",
        ),
        pytest.param(
            "finish_content_filter",
            LLMTurn(finish_reason="content_filter", usage=Usage(58, 0, 58), model=RESPONSE_MODEL),
            id="content-filter",
        ),
        pytest.param(
            "refusal",
            LLMTurn(
                finish_reason="stop",
                refusal="I'm sorry, but I can't help with that request.",
                usage=Usage(73, 11, 84),
                model=RESPONSE_MODEL,
            ),
            id="refusal",
        ),
    ],
)
async def test_response_maps_to_llm_turn(
    api: respx.MockRouter, provider: OpenAIProvider, fixture: str, expected: LLMTurn
) -> None:
    """Each recorded response shape becomes exactly the expected LLMTurn, raw arguments kept."""
    route = completions(api).mock(return_value=fixture_response(fixture))
    turn = await provider.complete(CompletionRequest(messages=QUESTION, tools=[CALCULATOR]))
    assert route.call_count == 1
    assert turn == expected


async def test_missing_usage_counts_as_zero(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """A response without a usage object (some compatible servers) gives zero token counts."""
    body = fixture_json("text_answer")
    del body["usage"]
    route = completions(api).mock(return_value=httpx.Response(200, json=body))
    turn = await provider.complete(CompletionRequest(messages=QUESTION))
    assert route.called
    assert turn.usage == Usage(0, 0, 0)


async def test_no_choices_is_a_retryable_server_fault(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """A 200 with an empty choices list is treated as a server fault and retried."""
    body = fixture_json("text_answer")
    body["choices"] = []
    route = completions(api).mock(return_value=httpx.Response(200, json=body))
    error = await fail(provider)
    assert route.called
    assert error.retryable
    assert "no choices" in error.message
    assert body["id"] in error.message


# --- requests -------------------------------------------------------------------------------


async def test_request_body_round_trips_tool_calls(
    api: respx.MockRouter, provider: OpenAIProvider, snapshot: Any
) -> None:
    """The body sent carries the conversation, tool calls and results, tools and the model."""
    route = completions(api).mock(return_value=fixture_response("text_answer"))
    call = ToolCall(id="call_Xk3vPq9LmR2tYw8ZbN4cJd7s", name="calculator", arguments='{"a": 1')
    messages = [
        Message(role="system", content="You are a careful assistant. Use tools for arithmetic."),
        Message(role="user", content="What is 12 * 7?"),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(
            role="tool",
            content="arguments are not valid JSON",
            tool_call_id=call.id,
            name="calculator",
            is_error=True,
        ),
        Message(
            role="assistant",
            content="Let me fix that.",
            tool_calls=[
                ToolCall(
                    id="call_9fTq2LmZ7xWc4RkB1vNs6Hdp",
                    name="calculator",
                    arguments='{"expression": "12 * 7"}',
                )
            ],
        ),
        Message(
            role="tool",
            content="84",
            tool_call_id="call_9fTq2LmZ7xWc4RkB1vNs6Hdp",
            name="calculator",
        ),
        Message(role="assistant", content="12 * 7 = 84."),
        Message(role="user", content="Thanks! Now explain it."),
    ]
    await provider.complete(
        CompletionRequest(messages=messages, tools=[CALCULATOR], model="gpt-4.1-mini")
    )
    assert route.call_count == 1
    body = json.loads(route.calls.last.request.content)
    assert body == snapshot


async def test_request_without_tools_omits_tools_and_uses_default_model(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """With no tools, neither tools nor tool_choice is sent, and the provider's model is used."""
    route = completions(api).mock(return_value=fixture_response("text_answer"))
    await provider.complete(CompletionRequest(messages=QUESTION))
    assert route.call_count == 1
    body = json.loads(route.calls.last.request.content)
    assert body == {"model": MODEL, "messages": [{"role": "user", "content": "What is 12 * 7?"}]}


async def test_api_key_is_sent_as_a_bearer_token(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """The key travels only in the Authorization header of the request."""
    route = completions(api).mock(return_value=fixture_response("text_answer"))
    await provider.complete(CompletionRequest(messages=QUESTION))
    assert route.calls.last.request.headers["authorization"] == f"Bearer {API_KEY}"


async def test_unknown_role_is_refused_before_sending(provider: OpenAIProvider) -> None:
    """A role Chat Completions does not know is a programming error, raised before any request."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        route = router.post("/chat/completions").mock(return_value=fixture_response("text_answer"))
        with pytest.raises(ValueError, match="developer"):
            await provider.complete(CompletionRequest(messages=[Message(role="developer")]))
    assert not route.called


# --- errors ---------------------------------------------------------------------------------

RETRYABLE_STATUSES = [
    ("error_408_timeout", 408, "timeout"),
    ("error_409_conflict", 409, None),
    ("error_429_rate_limit", 429, "rate_limit_exceeded"),
    ("error_500_server_error", 500, None),
    ("error_502_bad_gateway", 502, None),
    ("error_503_overloaded", 503, None),
]

PERMANENT_STATUSES = [
    ("error_400_invalid_request", 400, None, "malformed"),
    ("error_401_invalid_api_key", 401, "invalid_api_key", "OPENAI_API_KEY"),
    ("error_403_unsupported_region", 403, "unsupported_country_region_territory", "OPENAI_MODEL"),
    ("error_404_model_not_found", 404, "model_not_found", "OPENAI_MODEL"),
    ("error_422_unprocessable", 422, None, "invalid"),
    ("error_400_context_length_exceeded", 400, "context_length_exceeded", "context window"),
    ("error_429_insufficient_quota", 429, "insufficient_quota", "billing"),
]


def provider_message(fixture: str) -> str:
    path = FIXTURES / f"{fixture}.json"
    if not path.exists():
        return (FIXTURES / f"{fixture}.html").read_text(encoding="utf-8").strip()
    message: str = fixture_json(fixture)["error"]["message"]
    return message


@pytest.mark.parametrize(("fixture", "status", "code"), RETRYABLE_STATUSES)
async def test_busy_and_server_statuses_are_retryable(
    api: respx.MockRouter, provider: OpenAIProvider, fixture: str, status: int, code: str | None
) -> None:
    """408, 409, 429 (rate limit) and 5xx, JSON or HTML bodies, become retryable errors."""
    route = completions(api).mock(return_value=fixture_response(fixture, status))
    error = await fail(provider)
    assert route.call_count == 1
    assert error.retryable
    assert error.status_code == status
    assert error.code == code
    assert error.message == provider_message(fixture)


@pytest.mark.parametrize(("fixture", "status", "code", "hint"), PERMANENT_STATUSES)
async def test_client_errors_are_permanent_with_message_and_hint(
    api: respx.MockRouter,
    provider: OpenAIProvider,
    fixture: str,
    status: int,
    code: str | None,
    hint: str,
) -> None:
    """4xx errors and permanent codes end the run with the provider's message and a hint."""
    route = completions(api).mock(return_value=fixture_response(fixture, status))
    error = await fail(provider)
    assert route.call_count == 1
    assert not error.retryable
    assert error.status_code == status
    assert error.code == code
    assert error.message == provider_message(fixture)
    assert error.hint is not None
    assert hint in error.hint
    assert hint in str(error)


async def test_read_timeout_is_retryable(api: respx.MockRouter) -> None:
    """An httpx read timeout becomes a retryable error saying how long it waited."""
    route = completions(api).mock(side_effect=httpx.ReadTimeout("timed out"))
    llm = OpenAIProvider(api_key=API_KEY, model=MODEL, base_url=BASE_URL, timeout=12.5)
    try:
        error = await fail(llm)
    finally:
        await llm.aclose()
    assert route.call_count == 1
    assert error.retryable
    assert error.status_code is None
    assert "timed out after 12.5s" in error.message


async def test_connect_error_is_retryable_and_names_the_server(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """A refused connection becomes a retryable error naming the base URL it tried."""
    route = completions(api).mock(side_effect=httpx.ConnectError("connection refused"))
    error = await fail(provider)
    assert route.call_count == 1
    assert error.retryable
    assert error.status_code is None
    assert error.message.startswith(f"could not connect to {BASE_URL}: ")
    assert "connection refused" in error.message


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "20"}, 20.0), ({"retry-after-ms": "1500"}, 1.5)],
)
async def test_retry_after_headers_are_honoured(
    api: respx.MockRouter, provider: OpenAIProvider, headers: dict[str, str], expected: float
) -> None:
    """retry-after (seconds) and retry-after-ms on a 429 set the error's retry_after."""
    route = completions(api).mock(
        return_value=fixture_response("error_429_rate_limit", 429, **headers)
    )
    error = await fail(provider)
    assert route.called
    assert error.retryable
    assert error.retry_after == expected


def error_strings(error: ProviderError) -> list[str]:
    return [str(error), repr(error), error.message, error.hint or "", *map(str, error.args)]


ALL_ERROR_FIXTURES = [(f, s) for f, s, _ in RETRYABLE_STATUSES] + [
    (f, s) for f, s, _, _ in PERMANENT_STATUSES
]


@pytest.mark.parametrize(("fixture", "status"), ALL_ERROR_FIXTURES)
async def test_api_key_never_appears_in_status_errors(
    api: respx.MockRouter, provider: OpenAIProvider, fixture: str, status: int
) -> None:
    """No ProviderError built from an HTTP error response contains the API key."""
    route = completions(api).mock(return_value=fixture_response(fixture, status))
    error = await fail(provider)
    assert route.called
    for text in error_strings(error):
        assert API_KEY not in text


@pytest.mark.parametrize(
    "side_effect",
    [
        httpx.ReadTimeout(f"timed out talking with key {API_KEY}"),
        httpx.ConnectError(f"refused for key {API_KEY}"),
    ],
)
async def test_api_key_never_appears_in_transport_errors(
    api: respx.MockRouter, provider: OpenAIProvider, side_effect: Exception
) -> None:
    """Timeouts and connection errors never pass the key on, even if the cause mentions it."""
    route = completions(api).mock(side_effect=side_effect)
    error = await fail(provider)
    assert route.called
    for text in error_strings(error):
        assert API_KEY not in text


async def test_api_key_echoed_by_a_server_is_redacted(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    """A proxy that echoes the full key in its error message gets it replaced by [redacted]."""
    body = {
        "error": {
            "message": f"key {API_KEY} is not allowed here",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    route = completions(api).mock(return_value=httpx.Response(401, json=body))
    error = await fail(provider)
    assert route.called
    assert error.message == "key [redacted] is not allowed here"
    for text in error_strings(error):
        assert API_KEY not in text


# --- retries, configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.Response(500, json=fixture_json("error_500_server_error")),
        httpx.Response(
            429, json=fixture_json("error_429_rate_limit"), headers={"retry-after": "1"}
        ),
        httpx.ConnectError("connection refused"),
    ],
    ids=["500", "429", "connect"],
)
async def test_sdk_never_retries(
    api: respx.MockRouter, provider: OpenAIProvider, outcome: httpx.Response | Exception
) -> None:
    """max_retries is 0: each complete() sends exactly one request, leaving retries to Temporal."""
    if isinstance(outcome, httpx.Response):
        route = completions(api).mock(return_value=outcome)
    else:
        route = completions(api).mock(side_effect=outcome)
    assert provider._client.max_retries == 0
    await fail(provider)
    assert route.call_count == 1
    await fail(provider)
    assert route.call_count == 2


async def test_custom_base_url_from_settings_is_used() -> None:
    """OPENAI_BASE_URL and OPENAI_MODEL from the environment pick the server and the model."""
    base_url = "https://llm-gateway.internal.test/openai/v1"
    settings = Settings.from_env(
        {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": base_url, "OPENAI_MODEL": "gpt-4.1-nano"}
    )
    llm = OpenAIProvider.from_settings(settings)
    try:
        with respx.mock(base_url=base_url, assert_all_called=True) as router:
            route = router.post("/chat/completions").mock(
                return_value=fixture_response("text_answer")
            )
            await llm.complete(CompletionRequest(messages=QUESTION))
    finally:
        await llm.aclose()
    assert route.call_count == 1
    request = route.calls.last.request
    assert str(request.url) == f"{base_url}/chat/completions"
    assert json.loads(request.content)["model"] == "gpt-4.1-nano"
    assert llm.default_model == "gpt-4.1-nano"
    assert llm.name == "openai"


async def test_default_base_url_is_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a base URL the provider talks to api.openai.com, ignoring the SDK's env lookup."""
    monkeypatch.setenv("OPENAI_BASE_URL", "https://must-not-be-used.test/v1")
    llm = OpenAIProvider(api_key=API_KEY, model=MODEL)
    try:
        with respx.mock(base_url="https://api.openai.com/v1", assert_all_called=True) as router:
            route = router.post("/chat/completions").mock(
                return_value=fixture_response("text_answer")
            )
            await llm.complete(CompletionRequest(messages=QUESTION))
    finally:
        await llm.aclose()
    assert route.call_count == 1


async def test_a_lent_http_client_is_used_and_left_open(api: respx.MockRouter) -> None:
    """A caller's httpx client carries the requests, and aclose() does not close it."""
    route = completions(api).mock(return_value=fixture_response("text_answer"))
    async with httpx.AsyncClient(timeout=5.0) as client:
        llm = OpenAIProvider(api_key=API_KEY, model=MODEL, base_url=BASE_URL, http_client=client)
        await llm.complete(CompletionRequest(messages=QUESTION))
        await llm.aclose()
        assert not client.is_closed
    assert route.call_count == 1


def test_from_settings_without_a_key_says_what_to_set() -> None:
    """Choosing OpenAI without OPENAI_API_KEY fails with a sentence naming the variable."""
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIProvider.from_settings(Settings.from_env({"AGENTIC_LOOP_LLM": "openai"}))
