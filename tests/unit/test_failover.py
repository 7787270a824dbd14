"""Failover: when a provider's call fails for good, the run moves to the next provider of the
worker's chain for that turn and the turns after, says so, and decides from recorded data."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from temporalio.api.enums.v1 import EventType

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm import provider_from_settings
from agentic_loop.llm.anthropic import AnthropicProvider
from agentic_loop.llm.failover import ProviderChain
from agentic_loop.llm.openai import OpenAIProvider
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.types import AgentStatus, RetrySettings
from support import FIXTURES, RunAgent, until_status

SEED = "What is 5 + 3?"
ONCE = RetrySettings(maximum_attempts=1)
KOREAN_SEED = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"


def _anthropic_body(name: str) -> Any:
    return json.loads((FIXTURES / "anthropic" / f"{name}.json").read_text(encoding="utf-8"))


def _down(status: int = 503, times: int = 99) -> ScriptedLLM:
    """A provider whose every call fails with `status`."""
    return ScriptedLLM.from_data(
        {"turns": [{"faults": [{"status": status, "times": times}], "content": "never"}]},
        name="down",
    )


def _answers() -> ScriptedLLM:
    """A provider that computes with the calculator, then answers."""
    return ScriptedLLM.from_data(
        {
            "turns": [
                {"tool_calls": [{"name": "calculator", "arguments": {"expression": "5 + 3"}}]},
                {"expect": {"role": "tool", "contains": "8"}, "content": "5 + 3 = 8."},
            ]
        },
        name="backup",
    )


async def test_an_outage_moves_the_run_to_the_next_provider_after_three_attempts(
    run_agent: RunAgent,
) -> None:
    """A 503 on every call of the first provider is an outage by its third attempt: the turn
    goes to the second provider, which answers it and the next, and the result, status and
    transcript all say so."""
    down = _down()
    chain = ProviderChain([("openai", down), ("anthropic", _answers())])
    run = await run_agent(chain, goal=SEED)
    assert run.result.status == AgentStatus.COMPLETED
    assert run.result.answer == "5 + 3 = 8."
    [moved] = run.result.failovers
    assert (moved.turn, moved.from_provider, moved.to_provider) == (1, "openai", "anthropic")
    assert "503" in moved.reason
    assert len(down.requests) == 3  # not the policy's five: an outage moves on at once
    progress = await until_status(run.handle, lambda p: p.status != AgentStatus.RUNNING)
    assert progress.provider == "anthropic"
    audit = [m for m in run.result.transcript if m.role == "failover"]
    assert [m.name for m in audit] == ["anthropic"]


async def test_a_final_error_of_the_first_provider_moves_on_at_once(run_agent: RunAgent) -> None:
    """A 401 (a dead key) is final for that provider: one request, then the next provider."""
    down = _down(status=401)
    chain = ProviderChain([("openai", down), ("anthropic", _answers())])
    run = await run_agent(chain, goal=SEED)
    assert run.result.status == AgentStatus.COMPLETED
    assert len(down.requests) == 1
    assert [f.to_provider for f in run.result.failovers] == ["anthropic"]


async def test_when_the_last_provider_fails_the_run_fails_as_before(run_agent: RunAgent) -> None:
    """With nowhere left to go, the failure ends the run with status failed, after one
    failover, and the error is the last provider's."""
    chain = ProviderChain([("openai", _down(401)), ("anthropic", _down(403))])
    run = await run_agent(chain, goal=SEED)
    assert run.result.status == AgentStatus.FAILED
    assert "HTTP 403" in (run.result.error or "")
    assert [f.from_provider for f in run.result.failovers] == ["openai"]


async def test_a_single_provider_fails_as_it_always_did(run_agent: RunAgent) -> None:
    """Without a chain nothing moves: a 401 ends the run failed, with no failover recorded."""
    run = await run_agent(_down(401), goal=SEED)
    assert run.result.status == AgentStatus.FAILED
    assert run.result.failovers == []


async def test_the_failover_is_decided_from_the_recorded_failure(run_agent: RunAgent) -> None:
    """The failed call's recorded failure names the failed and the next provider, and the
    next call's scheduled input asks for that provider: a replay reads the same."""
    chain = ProviderChain([("openai", _down(401)), ("anthropic", _answers())])
    run = await run_agent(chain, goal=SEED)
    history = await run.handle.fetch_history()
    [failed] = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]
    failure = failed.activity_task_failed_event_attributes.failure
    details = failure.application_failure_info.details.payloads[0].data
    assert b'"provider": "openai"' in details or b'"provider":"openai"' in details
    assert b"anthropic" in details


def test_the_environment_names_a_chain() -> None:
    """AGENTIC_LOOP_LLM=fake,fake is refused (a name twice); two distinct ones make a chain
    whose first answers by default."""
    with pytest.raises(ConfigError, match="named twice"):
        provider_from_settings(Settings(llm="fake,fake"))
    chain: Any = provider_from_settings(Settings(llm="fake, openai", openai_api_key="sk-x"))
    assert isinstance(chain, ProviderChain)
    assert chain.order == ["fake", "openai"]
    assert chain.default_model == "rule-based"


def test_what_counts_as_an_outage() -> None:
    """Unreachable and out of quota are outages at once; a 5xx from its third attempt on; a
    429 or a first 503 are not (they are waited out under the retry policy)."""
    from agentic_loop.llm.errors import provider_error
    from agentic_loop.llm.failover import is_outage

    unreachable = provider_error(None, "could not connect")
    unreachable.outage = True
    assert is_outage(unreachable, attempt=1)
    assert is_outage(provider_error(429, "quota", code="insufficient_quota"), attempt=1)
    assert not is_outage(provider_error(503, "busy"), attempt=2)
    assert is_outage(provider_error(503, "busy"), attempt=3)
    assert not is_outage(provider_error(429, "slow down"), attempt=5)
    assert not is_outage(provider_error(None, "timed out"), attempt=1)


async def test_a_dead_openai_endpoint_fails_over_to_anthropic(run_agent: RunAgent) -> None:
    """OpenAI refusing connections (an outage, so no waiting out its retry policy) hands the
    seed's run to Anthropic, which answers from recorded bodies (fixtures/anthropic:
    seed_tool_use.json, seed_answer.json); the result names both providers."""
    openai = OpenAIProvider(
        api_key="sk-dead", model="gpt-4o-mini", base_url="https://openai.test/v1"
    )
    anthropic = AnthropicProvider(
        api_key="sk-ant-alive", model="claude-sonnet-4-5", base_url="https://anthropic.test"
    )
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as api:
        dead = api.post("https://openai.test/v1/chat/completions").mock(
            side_effect=httpx.ConnectError("connection refused")
        )
        alive = api.post("https://anthropic.test/v1/messages").mock(
            side_effect=[
                httpx.Response(200, json=_anthropic_body("seed_tool_use")),
                httpx.Response(200, json=_anthropic_body("seed_answer")),
            ]
        )
        chain = ProviderChain([("openai", openai), ("anthropic", anthropic)])
        try:
            run = await run_agent(
                chain, goal="5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"
            )
        finally:
            await chain.aclose()
    assert run.result.status == AgentStatus.COMPLETED
    assert "8" in run.result.answer
    assert dead.call_count == 1
    assert alive.call_count == 2
    [moved] = run.result.failovers
    assert (moved.from_provider, moved.to_provider) == ("openai", "anthropic")
    assert "could not connect" in moved.reason


def _openai_body(name: str) -> Any:
    return json.loads((FIXTURES / "openai" / f"{name}.json").read_text(encoding="utf-8"))


async def test_a_conversation_moves_cleanly_between_providers(run_agent: RunAgent) -> None:
    """OpenAI asks for the calculator (recorded tool_call.json), then answers 500 three times
    in a row; Anthropic takes over turn 2 with the whole conversation in its own terms: the
    system prompt, OpenAI's tool call as a tool_use with the same id, and its result as the
    matching tool_result; its recorded answer (text_answer.json) ends the run."""
    openai = OpenAIProvider(api_key="sk-o", model="gpt-4o-mini", base_url="https://openai.test/v1")
    anthropic = AnthropicProvider(
        api_key="sk-ant", model="claude-sonnet-4-5", base_url="https://anthropic.test"
    )
    server_error = httpx.Response(500, json=_openai_body("error_500_server_error"))
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as api:
        api.post("https://openai.test/v1/chat/completions").mock(
            side_effect=[httpx.Response(200, json=_openai_body("tool_call"))] + [server_error] * 3
        )
        messages = api.post("https://anthropic.test/v1/messages").mock(
            return_value=httpx.Response(200, json=_anthropic_body("text_answer"))
        )
        chain = ProviderChain([("openai", openai), ("anthropic", anthropic)])
        try:
            run = await run_agent(chain, goal="What is 12 * 7?")
        finally:
            await chain.aclose()
    assert run.result.status == AgentStatus.COMPLETED
    assert [(f.turn, f.to_provider) for f in run.result.failovers] == [(2, "anthropic")]
    sent = json.loads(messages.calls[0].request.content)
    assert "agent" in sent["system"]
    [asked, answered] = sent["messages"][1:3]
    [tool_use] = [b for b in asked["content"] if b["type"] == "tool_use"]
    assert (tool_use["id"], tool_use["name"]) == ("call_Xk3vPq9LmR2tYw8ZbN4cJd7s", "calculator")
    assert tool_use["input"] == {"expression": "12 * 7"}
    [result] = answered["content"]
    assert (result["type"], result["tool_use_id"]) == ("tool_result", tool_use["id"])
    assert "84" in json.dumps(result)


async def test_the_input_can_order_the_providers(run_agent: RunAgent) -> None:
    """AgentInput.llm_providers puts the worker's second provider first: the first call goes
    to it, and when it fails for good the run moves to the one the input names next."""
    first = _down(401)
    chain = ProviderChain([("openai", _answers()), ("anthropic", first)])
    run = await run_agent(chain, goal=SEED, llm_providers=["anthropic", "openai"])
    assert run.result.status == AgentStatus.COMPLETED
    assert len(first.requests) == 1
    assert [(f.from_provider, f.to_provider) for f in run.result.failovers] == [
        ("anthropic", "openai")
    ]


async def test_a_provider_the_worker_lacks_is_a_clear_failure(run_agent: RunAgent) -> None:
    """An input naming a provider this worker does not have fails its calls saying which
    providers it has, instead of asking another one silently."""
    run = await run_agent(_answers(), goal=SEED, llm_providers=["anthropic"], llm_retry=ONCE)
    assert run.result.status == AgentStatus.FAILED
    assert "this worker has no provider 'anthropic'" in (run.result.error or "")
