"""AnthropicProvider through the whole agent loop on the time-skipping server, HTTP served by
respx from recorded Messages API bodies (fixtures/anthropic/).

The worker runs in this process and event loop, so the respx routes are active while its
`call_llm` activity sends requests; `assert_all_called` fails a test whose route was never hit.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from agentic_loop.config import DEFAULT_GOAL
from agentic_loop.llm.anthropic import AnthropicProvider
from agentic_loop.types import AgentStatus
from support import RunAgent

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"
BASE_URL = "https://api.anthropic.test"
API_KEY = "sk-ant-test-workflow-5f2c9a7e1b3dTOPSECRET"
MODEL = "claude-sonnet-4-5"


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def reply(name: str, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body(name), headers=headers)


def sent(route: respx.Route, index: int) -> dict[str, Any]:
    """The JSON body of the route's index-th request."""
    data: dict[str, Any] = json.loads(route.calls[index].request.content)
    return data


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    # Unmatched requests raise (assert_all_mocked), so nothing can leave for the network.
    with respx.mock(base_url=BASE_URL, assert_all_called=True, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
async def provider() -> AsyncIterator[AnthropicProvider]:
    llm = AnthropicProvider(api_key=API_KEY, model=MODEL, base_url=BASE_URL)
    yield llm
    await llm.aclose()


def messages(api: respx.MockRouter) -> respx.Route:
    return api.post("/v1/messages")


def call_llm_events(history: WorkflowHistory) -> list[tuple[Any, Any]]:
    """(ActivityTaskScheduled, ActivityTaskStarted) event pairs of `call_llm`, in order."""
    scheduled: dict[int, Any] = {}
    pairs = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == "call_llm":
                scheduled[event.event_id] = event
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if attrs.scheduled_event_id in scheduled:
                pairs.append((scheduled[attrs.scheduled_event_id], event))
    return pairs


def event_time(event: Any) -> datetime:
    moment: datetime = event.event_time.ToDatetime()
    return moment


async def test_tool_use_then_answer_completes_with_summed_usage(
    api: respx.MockRouter, provider: AnthropicProvider, run_agent: RunAgent
) -> None:
    """A calculator tool_use then a Korean text answer completes the seed's goal; the tool's
    "8" reaches the API as a tool_result in a user message; both turns' tokens are summed."""
    route = messages(api).mock(side_effect=[reply("seed_tool_use"), reply("seed_answer")])
    run = await run_agent(provider, goal=DEFAULT_GOAL)
    assert route.call_count == 2
    result = run.result
    assert result.status == AgentStatus.COMPLETED
    assert result.answer == body("seed_answer")["content"][0]["text"]
    assert "8" in result.answer
    assert (result.turns, result.tool_calls) == (2, 1)
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (557 + 636, 55 + 88)
    first, second = sent(route, 0), sent(route, 1)
    assert first["model"] == MODEL
    assert "calculator" in [tool["name"] for tool in first["tools"]]
    assert first["messages"][0]["content"] == [{"type": "text", "text": DEFAULT_GOAL}]
    assert second["messages"][1:] == [
        {"role": "assistant", "content": body("seed_tool_use")["content"]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A73Ko8diCmNfpop86iruFS",
                    "content": "8",
                }
            ],
        },
    ]


async def test_retry_after_on_a_429_is_waited_out_in_skipped_time(
    api: respx.MockRouter, provider: AnthropicProvider, run_agent: RunAgent
) -> None:
    """A recorded 429 rate_limit_error with retry-after 20 is retried 20 s (of skipped time)
    later, not after the policy's 1 s first back-off, and the run completes."""
    route = messages(api).mock(
        side_effect=[
            reply("error_429_rate_limit", 429, **{"retry-after": "20", "x-should-retry": "true"}),
            reply("text_answer"),
        ]
    )
    run = await run_agent(provider, goal="Tell me a brief fact about Paris")
    assert route.call_count == 2
    assert run.result.status == AgentStatus.COMPLETED
    [(scheduled, started)] = call_llm_events(await run.handle.fetch_history())
    # Retries of one activity are recorded once, as the attempt that finally ran.
    assert started.activity_task_started_event_attributes.attempt == 2
    waited = (event_time(started) - event_time(scheduled)).total_seconds()
    assert 20 <= waited < 30


async def test_overloaded_529_is_retried_and_the_run_completes(
    api: respx.MockRouter, provider: AnthropicProvider, run_agent: RunAgent
) -> None:
    """A recorded 529 overloaded_error is retried on the policy's back-off, and the run
    completes on the next attempt."""
    route = messages(api).mock(
        side_effect=[reply("error_529_overloaded", 529), reply("text_answer")]
    )
    run = await run_agent(provider, goal="Tell me a brief fact about Paris")
    assert route.call_count == 2
    assert run.result.status == AgentStatus.COMPLETED


async def test_invalid_key_ends_the_run_at_once_naming_anthropic_api_key(
    api: respx.MockRouter, provider: AnthropicProvider, run_agent: RunAgent
) -> None:
    """A 401 authentication_error ends the run after one request, status failed, with the
    API's message and a hint naming ANTHROPIC_API_KEY."""
    route = messages(api).mock(return_value=reply("error_401_authentication", 401))
    run = await run_agent(provider, goal=DEFAULT_GOAL)
    assert route.call_count == 1
    assert run.result.status == AgentStatus.FAILED
    error = run.result.error or ""
    assert "invalid x-api-key" in error
    assert "ANTHROPIC_API_KEY" in error
    [(_, started)] = call_llm_events(await run.handle.fetch_history())
    assert started.activity_task_started_event_attributes.attempt == 1


async def test_max_tokens_ends_the_run_as_truncated_without_running_the_cut_call(
    api: respx.MockRouter, provider: AnthropicProvider, run_agent: RunAgent
) -> None:
    """A reply stopped at max_tokens, its tool_use cut mid-input, ends the run as truncated
    with its text after one request: the cut call is never run."""
    route = messages(api).mock(return_value=reply("max_tokens"))
    run = await run_agent(provider, goal="Write a tax guide to taxes.txt")
    assert route.call_count == 1
    assert run.result.status == AgentStatus.TRUNCATED
    assert run.result.answer == body("max_tokens")["content"][0]["text"]
    assert run.result.tool_calls == 0


async def test_refusal_ends_the_run_as_refused(
    api: respx.MockRouter, provider: AnthropicProvider, run_agent: RunAgent
) -> None:
    """stop_reason refusal ends the run as refused, its explanation as the answer."""
    route = messages(api).mock(return_value=reply("refusal"))
    run = await run_agent(provider, goal=DEFAULT_GOAL)
    assert route.call_count == 1
    assert run.result.status == AgentStatus.REFUSED
    assert run.result.answer == body("refusal")["stop_details"]["explanation"]


def readable(history_json: str) -> str:
    """The history's JSON plus every payload decoded: payloads are base64 in the JSON, so a
    plain search of the JSON alone would miss a key inside an activity's input or result."""
    decoded: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                decoded.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return "\n".join([history_json, *decoded])


async def test_api_key_never_enters_history(
    api: respx.MockRouter, provider: AnthropicProvider, run_agent: RunAgent
) -> None:
    """A 401 whose message quotes the whole key is recorded with the key redacted: the key
    appears nowhere in the workflow's history."""
    error = {"type": "authentication_error", "message": f"key {API_KEY} rejected"}
    route = messages(api).mock(
        return_value=httpx.Response(401, json={"type": "error", "error": error})
    )
    run = await run_agent(provider, goal=DEFAULT_GOAL)
    assert route.called
    assert run.result.status == AgentStatus.FAILED
    history = readable((await run.handle.fetch_history()).to_json())
    # What the API said did reach history; so the check below looked where it matters.
    assert "key [redacted] rejected" in history
    assert API_KEY not in history
    assert API_KEY[-12:] not in history
