"""OpenAIProvider through the whole agent loop on the time-skipping server, HTTP served by respx.

The worker runs in this process and event loop, so the respx routes are active while its
`call_llm` activity sends requests; `assert_all_called` fails a test whose route was never hit.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from agentic_loop.config import Settings
from agentic_loop.llm.openai import OpenAIProvider
from agentic_loop.outcome import agent_result
from agentic_loop.types import AgentInput, AgentResult, AgentStatus
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from support import RunAgent

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai"
BASE_URL = "https://api.test/v1"
API_KEY = "sk-test-workflow-5f2c9a7e1b3d4c6aTOPSECRET"
MODEL = "gpt-4o-mini"
GOAL = "What is 12 * 7?"


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
async def provider() -> AsyncIterator[OpenAIProvider]:
    llm = OpenAIProvider(api_key=API_KEY, model=MODEL, base_url=BASE_URL)
    yield llm
    await llm.aclose()


def completions(api: respx.MockRouter) -> respx.Route:
    return api.post("/chat/completions")


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


def event_time(event: Any) -> datetime:
    moment: datetime = event.event_time.ToDatetime()
    return moment


# --- the loop ---------------------------------------------------------------------------------


async def test_tool_call_then_answer_completes_with_summed_usage(
    api: respx.MockRouter, provider: OpenAIProvider, run_agent: RunAgent
) -> None:
    """A calculator call then a text answer completes, the tool's "84" reaches the API, and
    both turns' token counts are summed."""
    route = completions(api).mock(side_effect=[reply("tool_call"), reply("text_answer")])
    run = await run_agent(provider, goal=GOAL)
    assert route.call_count == 2
    result = run.result
    assert result.status == AgentStatus.COMPLETED
    assert result.answer == body("text_answer")["choices"][0]["message"]["content"]
    assert (result.turns, result.tool_calls) == (2, 1)
    assert (
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
        result.usage.total_tokens,
    ) == (87 + 112, 17 + 24, 104 + 136)
    second = sent(route, 1)
    assert second["model"] == MODEL
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_messages == [
        {"role": "tool", "tool_call_id": "call_Xk3vPq9LmR2tYw8ZbN4cJd7s", "content": "84"}
    ]


async def test_retry_after_sets_the_delay_before_the_next_attempt(
    api: respx.MockRouter, provider: OpenAIProvider, run_agent: RunAgent
) -> None:
    """A 429 with retry-after 20 is retried 20 s (of skipped time) later, not after the
    policy's 1 s first back-off, and the run completes."""
    route = completions(api).mock(
        side_effect=[
            reply("error_429_rate_limit", 429, **{"retry-after": "20"}),
            reply("text_answer"),
        ]
    )
    run = await run_agent(provider, goal=GOAL)
    assert route.call_count == 2
    assert run.result.status == AgentStatus.COMPLETED
    [(scheduled, started)] = call_llm_events(await run.handle.fetch_history())
    attrs = started.activity_task_started_event_attributes
    # Retries of one activity are recorded once, as the attempt that finally ran.
    assert attrs.attempt == 2
    waited = (event_time(started) - event_time(scheduled)).total_seconds()
    # Ignoring retry-after would give the policy's first back-off, 1 s.
    assert 20 <= waited < 30


async def test_invalid_key_fails_at_once_with_the_message_and_a_hint(
    api: respx.MockRouter, provider: OpenAIProvider, run_agent: RunAgent
) -> None:
    """A 401 ends the run after one request, status failed, with the API's message and a hint
    naming OPENAI_API_KEY."""
    route = completions(api).mock(return_value=reply("error_401_invalid_api_key", 401))
    run = await run_agent(provider, goal=GOAL)
    assert route.call_count == 1
    assert run.result.status == AgentStatus.FAILED
    assert run.result.error is not None
    assert body("error_401_invalid_api_key")["error"]["message"] in run.result.error
    assert "OPENAI_API_KEY" in run.result.error
    [(_, started)] = call_llm_events(await run.handle.fetch_history())
    assert started.activity_task_started_event_attributes.attempt == 1


async def test_malformed_tool_arguments_are_told_to_the_llm(
    api: respx.MockRouter, provider: OpenAIProvider, run_agent: RunAgent
) -> None:
    """Tool arguments that are not JSON become an error tool message the API sees on the next
    request, and the run goes on to complete."""
    route = completions(api).mock(side_effect=[reply("malformed_arguments"), reply("text_answer")])
    run = await run_agent(provider, goal=GOAL)
    assert route.call_count == 2
    assert run.result.status == AgentStatus.COMPLETED
    [tool_message] = [m for m in sent(route, 1)["messages"] if m["role"] == "tool"]
    assert tool_message["tool_call_id"] == "call_L2mN8bVc4xZq7Wt1Ry5Ks3Pj"
    assert "not valid JSON" in tool_message["content"]


async def test_length_cut_ends_as_truncated(
    api: respx.MockRouter, provider: OpenAIProvider, run_agent: RunAgent
) -> None:
    """finish_reason "length" ends the run as truncated with the partial text, after one call."""
    route = completions(api).mock(return_value=reply("finish_length"))
    run = await run_agent(provider, goal=GOAL)
    assert route.call_count == 1
    assert run.result.status == AgentStatus.TRUNCATED
    assert run.result.answer == body("finish_length")["choices"][0]["message"]["content"]


async def test_refusal_ends_as_refused(
    api: respx.MockRouter, provider: OpenAIProvider, run_agent: RunAgent
) -> None:
    """A refusal from the API ends the run as refused, with the refusal as its answer."""
    route = completions(api).mock(return_value=reply("refusal"))
    run = await run_agent(provider, goal=GOAL)
    assert route.call_count == 1
    assert run.result.status == AgentStatus.REFUSED
    assert run.result.answer == body("refusal")["choices"][0]["message"]["refusal"]


def echoing_the_key(status: int, code: str | None) -> httpx.Response:
    # A misbehaving proxy that quotes the whole key back: the worst case for history.
    error = {"message": f"key {API_KEY} rejected", "type": "x", "param": None, "code": code}
    return httpx.Response(status, json={"error": error})


@pytest.mark.parametrize(
    ("responses", "status", "recorded"),
    [
        pytest.param(
            lambda: [reply("tool_call"), reply("text_answer")],
            AgentStatus.COMPLETED,
            "84",
            id="tool-call-then-answer",
        ),
        pytest.param(
            lambda: [echoing_the_key(401, "invalid_api_key")],
            AgentStatus.FAILED,
            "key [redacted] rejected",
            id="401-quoting-the-key",
        ),
    ],
)
async def test_api_key_never_enters_history(
    api: respx.MockRouter,
    provider: OpenAIProvider,
    run_agent: RunAgent,
    responses: Any,
    status: AgentStatus,
    recorded: str,
) -> None:
    """The key is sent to the API but appears nowhere in the workflow's history, not even in
    a recorded failure whose provider message quoted it."""
    route = completions(api).mock(side_effect=responses())
    run = await run_agent(provider, goal=GOAL)
    assert run.result.status == status
    assert route.calls[0].request.headers["authorization"] == f"Bearer {API_KEY}"
    history = readable((await run.handle.fetch_history()).to_json())
    # What the API said did reach history; so the check below looked where it matters.
    assert recorded in history
    assert API_KEY not in history
    assert API_KEY[-12:] not in history


# --- timeouts and cancellation ------------------------------------------------------------------


async def test_http_timeout_is_shorter_than_the_llm_activity_timeout() -> None:
    """The provider's HTTP timeout ends a hung request as a retryable timeout, with its reason,
    before Temporal's start-to-close timeout would end the attempt without one."""
    provider = OpenAIProvider.from_settings(Settings.from_env({"OPENAI_API_KEY": API_KEY}))
    try:
        assert provider.timeout < AgentInput(goal=GOAL).llm_timeout_seconds
        assert provider._client.timeout == provider.timeout
        assert provider._http_client.timeout.read == provider.timeout
    finally:
        await provider.aclose()


@pytest.mark.slow
async def test_cancelling_the_workflow_cancels_the_http_request(
    provider: OpenAIProvider, own_time_env: WorkflowEnvironment
) -> None:
    """A request the API never answers is cancelled because the workflow was cancelled (not by
    a timeout), delivered to the activity with a heartbeat's reply; the run does not stay open."""
    started = asyncio.Event()
    cancelled = asyncio.Event()
    why: list[activity.ActivityCancellationDetails | None] = []

    async def never_answers(request: httpx.Request) -> httpx.Response:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            # The side effect runs inside the activity's HTTP call, so it can ask why.
            why.append(activity.cancellation_details())
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    task_queue = f"tq-{uuid.uuid4()}"
    worker = build_worker(own_time_env.client, task_queue=task_queue, provider=provider)
    # respx counts a call only once its side effect returns, so `started` proves the route was
    # hit here, and assert_all_called would wrongly fail.
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        completions(router).mock(side_effect=never_answers)
        async with worker:
            handle = await own_time_env.client.start_workflow(
                AgentWorkflow.run,
                AgentInput(goal=GOAL),
                id=f"wf-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            await asyncio.wait_for(started.wait(), timeout=30)
            await handle.cancel()
            # Well inside the 120 s start-to-close timeout; a missed heartbeat timeout would
            # also cancel the call, which is why the reason is checked below.
            await asyncio.wait_for(cancelled.wait(), timeout=60)
            try:
                outcome: AgentResult | BaseException = await asyncio.wait_for(
                    agent_result(handle), timeout=30
                )
            except WorkflowFailureError as e:
                outcome = e.cause if e.cause is not None else e
    [details] = why
    assert details is not None
    assert not details.timed_out
    # Cancel requested, or the workflow already closed (it need not wait for the activity).
    assert details.cancel_requested or details.not_found
    assert isinstance(outcome, AgentResult)
    assert outcome.status == AgentStatus.CANCELLED
    description = await handle.describe()
    assert description.status is not None
    # Ended as a cancelled execution, as the operator asked (its result read back above).
    assert description.status.name == "CANCELED"


def _rate_limited(message_wait: str, **headers: str) -> httpx.Response:
    """The recorded 429 body (fixtures/openai/error_429_rate_limit.json) with its "try again
    in" hint changed to `message_wait`, and these headers (no retry-after)."""
    data = body("error_429_rate_limit")
    data["error"]["message"] = data["error"]["message"].replace("20s", message_wait)
    return httpx.Response(429, json=data, headers=headers)


def _waited(history: WorkflowHistory) -> float:
    [(scheduled, started)] = call_llm_events(history)
    assert started.activity_task_started_event_attributes.attempt == 2
    return (event_time(started) - event_time(scheduled)).total_seconds()


@pytest.mark.parametrize(
    ("response", "window"),
    [
        (_rate_limited("1s", **{"x-ratelimit-reset-requests": "26.6s"}), 26.6),
        (_rate_limited("26.604s"), 26.604),
        (
            _rate_limited(
                "1s",
                **{
                    "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": "6m0s",
                    "x-ratelimit-remaining-requests": "12",
                    "x-ratelimit-reset-requests": "1s",
                },
            ),
            360.0,
        ),
    ],
    ids=["reset-requests header only", "the message's hint only", "exhausted token window"],
)
async def test_a_rate_limit_window_is_waited_out_in_skipped_time(
    api: respx.MockRouter,
    provider: OpenAIProvider,
    run_agent: RunAgent,
    response: httpx.Response,
    window: float,
) -> None:
    """A 429 that says when its window reopens only through OpenAI's reset headers or its
    message is retried once the window has passed (the default policy's back-offs, 1 s and
    up, would give up inside a long one), and the run completes."""
    route = completions(api).mock(side_effect=[response, reply("text_answer")])
    run = await run_agent(provider, goal=GOAL)
    assert route.call_count == 2
    assert run.result.status == AgentStatus.COMPLETED
    waited = _waited(await run.handle.fetch_history())
    assert window <= waited < window + 10


async def test_x_should_retry_false_ends_the_run_at_once(
    api: respx.MockRouter, provider: OpenAIProvider, run_agent: RunAgent
) -> None:
    """A 429 that says x-should-retry: false is not retried: one request, status failed."""
    route = completions(api).mock(
        return_value=_rate_limited("20s", **{"x-should-retry": "false", "retry-after": "1"})
    )
    run = await run_agent(provider, goal=GOAL)
    assert route.call_count == 1
    assert run.result.status == AgentStatus.FAILED
    assert "Rate limit reached" in (run.result.error or "")
