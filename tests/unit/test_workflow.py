"""AgentWorkflow end to end on the time-skipping test server, with scripted LLMs."""

from __future__ import annotations

import json
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from agentic_loop.llm.rule_based import RuleBasedLLM
from agentic_loop.types import AgentStatus, Message, TranscriptPage, TranscriptRequest
from agentic_loop.workflow import AgentWorkflow
from support import RunAgent, load_script


def _llm_attempt_starts(history: WorkflowHistory) -> list[Any]:
    """ActivityTaskStarted events of `call_llm`, in order, with their attempt numbers."""
    scheduled: dict[int, str] = {}
    starts = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attrs.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if scheduled.get(attrs.scheduled_event_id) == "call_llm":
                starts.append(event)
    return starts


async def _transcript(run_handle: Any) -> list[Message]:
    page = await run_handle.query(
        AgentWorkflow.transcript, TranscriptRequest(), result_type=TranscriptPage
    )
    messages: list[Message] = page.messages
    return messages


async def test_seed_example_completes_with_the_calculators_result(
    run_agent: RunAgent, snapshot: Any
) -> None:
    """The seed's goal runs LLM -> calculator -> LLM and completes with 8 in the answer."""
    llm = load_script("seed")
    run = await run_agent(llm, goal="5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘")
    assert run.result.status == AgentStatus.COMPLETED
    assert "8" in run.result.answer
    assert (run.result.turns, run.result.tool_calls) == (2, 1)
    assert run.result.usage.total_tokens > 0
    transcript = await _transcript(run.handle)
    assert [m.role for m in transcript] == ["system", "user", "assistant", "tool", "assistant"]
    assert transcript[3].content == "8"
    assert transcript == snapshot


async def test_rule_based_llm_reaches_the_seed_goal_in_korean(run_agent: RunAgent) -> None:
    """The offline demo model answers the seed's Korean goal in Korean, with the result 8."""
    run = await run_agent(
        RuleBasedLLM(), goal="5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"
    )
    assert run.result.status == AgentStatus.COMPLETED
    assert "8" in run.result.answer
    assert "입니다" in run.result.answer


async def test_several_tool_calls_in_one_turn_all_reach_the_llm(run_agent: RunAgent) -> None:
    """Two tool calls asked for in one turn both run, and both results precede the next turn."""
    llm = load_script("parallel_tools")
    run = await run_agent(llm)
    assert run.result.status == AgentStatus.COMPLETED
    assert run.result.tool_calls == 2
    last_request = llm.requests[-1].messages
    tool_messages = [m for m in last_request if m.role == "tool"]
    assert [m.name for m in tool_messages] == ["calculator", "web_search"]
    assert tool_messages[0].content == "84"
    assert "durable" in tool_messages[1].content.lower()


async def test_parallel_tool_calls_are_scheduled_before_either_completes(
    run_agent: RunAgent,
) -> None:
    """The regular-activity tools of one turn are scheduled together, not one after another."""
    llm = load_script("parallel_tools")
    # Both tools as regular activities, so both appear as ActivityTaskScheduled events.
    run = await run_agent(llm, local_tools=[], inline_tools=[])
    history = await run.handle.fetch_history()
    kinds = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            kinds.append(("scheduled", name))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            kinds.append(("completed", ""))
    tool_events = kinds[2:]  # after the first LLM call was scheduled and completed
    assert tool_events[:2] == [("scheduled", "run_tool"), ("scheduled", "run_tool")]


async def test_a_refused_tool_call_goes_back_to_the_llm_which_corrects_itself(
    run_agent: RunAgent,
) -> None:
    """An injection attempt is refused as an error result, and the LLM's corrected call works."""
    run = await run_agent(load_script("tool_error_corrected"))
    assert run.result.status == AgentStatus.COMPLETED
    assert run.result.answer == "6 * 7 = 42."
    transcript = await _transcript(run.handle)
    refused = [m for m in transcript if m.role == "tool" and m.is_error]
    assert len(refused) == 1
    assert "__import__" not in refused[0].content or "not allowed" in refused[0].content.lower()


async def test_an_unknown_tool_is_an_error_result_not_a_crash(run_agent: RunAgent) -> None:
    """A call to a tool that does not exist returns an error naming the available tools."""
    run = await run_agent(load_script("unknown_tool"))
    assert run.result.status == AgentStatus.COMPLETED
    transcript = await _transcript(run.handle)
    error = next(m for m in transcript if m.role == "tool")
    assert error.is_error
    assert "calculator" in error.content
    assert "web_search" in error.content


async def test_malformed_json_arguments_are_reported_to_the_llm(run_agent: RunAgent) -> None:
    """Arguments that are not JSON become an error result; the loop goes on and completes."""
    run = await run_agent(load_script("malformed_args"))
    assert run.result.status == AgentStatus.COMPLETED
    assert run.result.answer == "2 + 2 = 4."
    assert run.result.turns == 3


async def test_max_turns_ends_the_run_with_its_status_and_keeps_the_transcript(
    run_agent: RunAgent,
) -> None:
    """An LLM that never stops is cut at max_turns, with status max_turns and its transcript."""
    llm = load_script("max_turns")
    run = await run_agent(llm, max_turns=3)
    assert run.result.status == AgentStatus.MAX_TURNS
    assert run.result.turns == 3
    assert len(llm.requests) == 3
    assert run.result.answer == "Step 3."
    transcript = await _transcript(run.handle)
    assert len(transcript) == run.result.transcript_length == 2 + 3 * 2


async def test_retryable_llm_errors_are_retried_with_the_servers_back_off(
    run_agent: RunAgent,
) -> None:
    """Three 429s with retry-after 60 s are retried and the run completes; history shows
    attempt 4 starting after three minutes of (skipped) workflow time."""
    run = await run_agent(load_script("retry_429"))
    assert run.result.status == AgentStatus.COMPLETED
    history = await run.handle.fetch_history()
    starts = _llm_attempt_starts(history)
    first_turn = starts[0].activity_task_started_event_attributes
    # Retries of one activity are recorded once, as the attempt that finally started.
    assert first_turn.attempt == 4
    scheduled_at = history.events[4].event_time.ToDatetime()
    started_at = starts[0].event_time.ToDatetime()
    assert (started_at - scheduled_at).total_seconds() >= 3 * 60


async def test_a_non_retryable_llm_error_ends_the_run_at_once_with_the_providers_message(
    run_agent: RunAgent,
) -> None:
    """A 401 fails the run after one attempt, with the provider's message and a hint."""
    llm = load_script("non_retryable_401")
    run = await run_agent(llm)
    assert run.result.status == AgentStatus.FAILED
    assert run.result.error is not None
    assert "Incorrect API key provided" in run.result.error
    assert "OPENAI_API_KEY" in run.result.error
    assert len(llm.requests) == 1


async def test_empty_replies_get_a_bounded_number_of_nudges(run_agent: RunAgent) -> None:
    """An LLM that keeps returning nothing is nudged twice, then the run fails with a reason."""
    from agentic_loop.llm.scripted import ScriptedLLM

    llm = ScriptedLLM.from_data({"turns": [{"content": ""}] * 5})
    run = await run_agent(llm)
    assert run.result.status == AgentStatus.FAILED
    assert run.result.error is not None
    assert "empty" in run.result.error
    assert len(llm.requests) == 3


async def test_truncated_answer_and_refusal_end_with_their_own_status(run_agent: RunAgent) -> None:
    """finish_reason "length" ends as truncated and a refusal as refused, never looping."""
    from agentic_loop.llm.scripted import ScriptedLLM

    cut = ScriptedLLM.from_data(
        {"turns": [{"content": "The answer is", "finish_reason": "length"}]}
    )
    run = await run_agent(cut)
    assert (run.result.status, run.result.answer) == (AgentStatus.TRUNCATED, "The answer is")
    refusal = ScriptedLLM.from_data({"turns": [{"refusal": "I can't help with that."}]})
    run = await run_agent(refusal)
    assert (run.result.status, run.result.answer) == (
        AgentStatus.REFUSED,
        "I can't help with that.",
    )


async def test_llm_activity_input_carries_only_new_messages(run_agent: RunAgent) -> None:
    """After the first turn, no call_llm input in history repeats the goal, earlier messages,
    or the turn and tool result that are already recorded as activity results."""
    goal = "a distinctive goal text " * 20
    run = await run_agent(load_script("max_turns"), goal=goal, max_turns=3)
    history = await run.handle.fetch_history()
    inputs = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "call_llm":
                inputs.append(json.loads(attrs.input.payloads[0].data))
    assert len(inputs) == 3
    assert goal in json.dumps(inputs[0], ensure_ascii=False)
    for turn, later in enumerate(inputs[1:], start=1):
        assert goal.strip() not in json.dumps(later, ensure_ascii=False)
        # The assistant turn and the tool result are already in history as activity results:
        # the request refers to them instead of recording them again.
        assert later["new_messages"] == []
        refs = later["recorded"]
        assert [r["position"] for r in refs] == [0, 1]
        assert refs[0]["key"].endswith(f"/llm/{turn}")
        assert refs[1]["key"].endswith("/result")


async def test_an_llm_call_slower_than_its_timeout_is_retried(run_agent: RunAgent) -> None:
    """A first attempt that outlasts the activity's start-to-close timeout is timed out and
    retried; the second attempt answers and the run completes."""
    from agentic_loop.llm.scripted import ScriptedLLM

    llm = ScriptedLLM.from_data(
        {"turns": [{"faults": [{"delay": 30, "times": 1}], "content": "slow, then fine"}]}
    )
    run = await run_agent(llm, llm_timeout_seconds=1)
    assert (run.result.status, run.result.answer) == (AgentStatus.COMPLETED, "slow, then fine")
    assert [r.attempt for r in llm.requests] == [1, 2]
