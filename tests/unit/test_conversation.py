"""A person in the loop: messages, approvals, status, cancel, budgets, long conversations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError

from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.outcome import agent_result
from agentic_loop.transcript import closed_runs
from agentic_loop.transcript import reader as transcript_reader
from agentic_loop.types import (
    AgentInput,
    AgentProgress,
    AgentResult,
    AgentStatus,
    ApprovalRequest,
    LLMTurn,
    Reply,
    TranscriptPage,
    TranscriptRequest,
    UserMessage,
)
from agentic_loop.workflow import AgentWorkflow
from support import until_status

Handle = WorkflowHandle[Any, AgentResult]


def _answers(*texts: str) -> ScriptedLLM:
    """A conversation partner that answers each user message in turn, checking it."""
    return ScriptedLLM.from_data(
        {"turns": [{"expect": {"role": "user"}, "content": text} for text in texts]}
    )


async def _status(handle: Handle) -> AgentProgress:
    progress: AgentProgress = await handle.query(AgentWorkflow.status)
    return progress


async def _until(handle: Handle, check: Callable[[AgentProgress], bool]) -> AgentProgress:
    """Poll the status query until `check` holds."""
    return await until_status(handle, check)


async def test_send_message_waits_for_the_answer_and_end_closes_the_conversation(
    agents: Any,
) -> None:
    """In a chat, each message gets its own answer through the update; `end` ends it."""
    llm = _answers("first answer", "second answer")
    handle = await agents.start(llm, AgentInput(goal="hello", chat=True))
    await _until(handle, lambda s: s.phase == "waiting for the user")
    reply = await handle.execute_update(
        AgentWorkflow.send_message, UserMessage("and now?", wait_for_answer=True)
    )
    assert (reply.request, reply.status, reply.answer) == (
        2,
        AgentStatus.COMPLETED,
        "second answer",
    )
    await handle.signal(AgentWorkflow.end)
    result = await handle.result()
    assert result.status == AgentStatus.ENDED
    assert result.requests == 2
    assert result.answer == "second answer"
    assert [m.content for m in result.transcript if m.role == "user"] == ["hello", "and now?"]


async def test_a_message_without_waiting_returns_once_accepted(agents: Any) -> None:
    """Without wait_for_answer the update returns at once, and the answer comes later."""
    llm = _answers("first", "second")
    handle = await agents.start(llm, AgentInput(goal="hello", chat=True))
    reply = await handle.execute_update(AgentWorkflow.send_message, UserMessage("more"))
    assert (reply.request, reply.status, reply.answer) == (2, AgentStatus.RUNNING, None)
    progress = await _until(handle, lambda s: s.phase == "waiting for the user" and s.turns == 2)
    assert progress.requests == 2
    await handle.signal(AgentWorkflow.end)
    assert (await handle.result()).answer == "second"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (UserMessage("   "), "the message is empty"),
        (UserMessage("x" * 40_000), "the limit is"),
    ],
)
async def test_the_message_validator_rejects_empty_and_oversized_messages(
    agents: Any, message: UserMessage, error: str
) -> None:
    """Bad messages are refused before they enter history, with a reason; the chat goes on."""
    handle = await agents.start(_answers("hi"), AgentInput(goal="hello", chat=True))
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(AgentWorkflow.send_message, message)
    assert error in str(caught.value.cause)
    assert (await _status(handle)).requests == 1
    await handle.signal(AgentWorkflow.end)
    assert (await handle.result()).status == AgentStatus.ENDED


async def test_messages_to_a_run_that_is_not_a_chat_or_has_ended_are_refused(
    agents: Any,
) -> None:
    """While open, a one-shot run and a conversation told to end both refuse new messages,
    saying why (each is held open by a call waiting for approval)."""
    one_shot = await agents.start(
        _search_then_answer(), AgentInput(goal="search", approval_required=["web_search"])
    )
    await _until(one_shot, lambda s: s.phase == "waiting for approval")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await one_shot.execute_update(AgentWorkflow.send_message, UserMessage("more"))
    assert "not a conversation" in str(caught.value.cause)
    await one_shot.execute_update(AgentWorkflow.approve, ApprovalRequest())
    assert (await one_shot.result()).status == AgentStatus.COMPLETED

    chat = await agents.start(
        _search_then_answer(),
        AgentInput(goal="search", chat=True, approval_required=["web_search"]),
    )
    await _until(chat, lambda s: s.phase == "waiting for approval")
    await chat.signal(AgentWorkflow.end)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await chat.execute_update(AgentWorkflow.send_message, UserMessage("more"))
    assert "has ended" in str(caught.value.cause)
    await chat.execute_update(AgentWorkflow.approve, ApprovalRequest())
    result = await chat.result()
    # `end` lets the request in progress finish, then closes the conversation.
    assert (result.status, result.answer) == (AgentStatus.ENDED, "done")


async def test_an_idle_conversation_ends_after_its_timeout_in_skipped_time(agents: Any) -> None:
    """With no message for the idle timeout (an hour, skipped), the chat ends idle_timeout."""
    handle = await agents.start(_answers("hi"), AgentInput(goal="hello", chat=True))
    result = await handle.result()
    assert result.status == AgentStatus.IDLE_TIMEOUT
    assert result.answer == "hi"


def _search_then_answer() -> ScriptedLLM:
    return ScriptedLLM.from_data(
        {
            "turns": [
                {
                    "tool_calls": [
                        {"id": "s1", "name": "web_search", "arguments": {"query": "Temporal"}}
                    ]
                },
                {"expect": {"role": "tool"}, "content": "done"},
            ]
        }
    )


async def test_an_approved_call_runs_and_the_decision_is_audited(agents: Any) -> None:
    """A tool that needs approval waits (status shows the call); approved, it runs, and the
    transcript records who approved it, why and when."""
    llm = _search_then_answer()
    handle = await agents.start(llm, AgentInput(goal="search", approval_required=["web_search"]))
    waiting = await _until(handle, lambda s: s.phase == "waiting for approval")
    assert [c.id for c in waiting.awaiting_approval] == ["s1"]
    assert waiting.pending_tool_calls[0].arguments == '{"query": "Temporal"}'
    decided = await handle.execute_update(
        AgentWorkflow.approve, ApprovalRequest(reason="looks fine")
    )
    assert decided == ["s1"]
    result = await handle.result()
    assert result.status == AgentStatus.COMPLETED
    audit = [m for m in result.transcript if m.role == "approval"]
    assert len(audit) == 1
    assert (audit[0].tool_call_id, audit[0].content) == ("s1", "approved by user: looks fine")
    assert audit[0].at is not None
    tool = next(m for m in llm.requests[-1].messages if m.role == "tool")
    assert not tool.is_error
    assert "Temporal" in tool.content
    assert all(m.role != "approval" for m in llm.requests[-1].messages)


async def test_a_rejected_call_tells_the_llm_the_reason(agents: Any) -> None:
    """Rejecting a call sends its reason back as the tool's error result; the tool never runs."""
    llm = _search_then_answer()
    handle = await agents.start(llm, AgentInput(goal="search", approval_required=["web_search"]))
    await _until(handle, lambda s: s.phase == "waiting for approval")
    await handle.execute_update(
        AgentWorkflow.reject, ApprovalRequest(call_id="s1", reason="no web today")
    )
    await handle.result()
    tool = next(m for m in llm.requests[-1].messages if m.role == "tool")
    assert tool.is_error
    assert "no web today" in tool.content


async def test_approval_updates_are_validated(agents: Any) -> None:
    """Approving when nothing waits, or naming a call that does not wait, is refused."""
    handle = await agents.start(_answers("hi"), AgentInput(goal="hello", chat=True))
    await _until(handle, lambda s: s.phase == "waiting for the user")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(AgentWorkflow.approve, ApprovalRequest())
    assert "no tool call is waiting" in str(caught.value.cause)
    await handle.signal(AgentWorkflow.end)
    await handle.result()

    waiting = await agents.start(
        _search_then_answer(), AgentInput(goal="search", approval_required=["web_search"])
    )
    await _until(waiting, lambda s: s.phase == "waiting for approval")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await waiting.execute_update(AgentWorkflow.reject, ApprovalRequest(call_id="nope"))
    assert "waiting: s1" in str(caught.value.cause)
    await waiting.execute_update(AgentWorkflow.approve, ApprovalRequest(call_id="s1"))
    assert (await waiting.result()).status == AgentStatus.COMPLETED


async def test_an_approval_that_expires_counts_as_rejected(agents: Any) -> None:
    """No decision within the approval timeout (24 h, skipped) rejects the call, audited."""
    llm = _search_then_answer()
    handle = await agents.start(llm, AgentInput(goal="search", approval_required=["web_search"]))
    result = await handle.result()
    assert result.status == AgentStatus.COMPLETED
    audit = next(m for m in result.transcript if m.role == "approval")
    assert audit.content == "rejected by timeout: no decision within 86400 s"
    tool = next(m for m in llm.requests[-1].messages if m.role == "tool")
    assert tool.is_error
    assert tool.content == "the call was rejected: no decision within 86400 s"


class BlockingLLM:
    """An LLM call that never returns, until it is cancelled."""

    __test__ = False

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    @property
    def name(self) -> str:
        return "blocking"

    @property
    def default_model(self) -> str:
        return "blocking"

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")


async def test_cancelling_during_an_llm_call_stops_it_and_ends_cancelled(
    own_agents: Any,
) -> None:
    """Cancel reaches the in-flight LLM call (through its heartbeat), the execution ends
    cancelled, and the agent's result (status cancelled, the transcript so far) is still
    read back."""
    llm = BlockingLLM()
    handle = await own_agents.start(llm, AgentInput(goal="think hard"))
    await asyncio.wait_for(llm.started.wait(), 20)
    await handle.cancel()
    result = await agent_result(handle)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert result.status == AgentStatus.CANCELLED
    assert [m.role for m in result.transcript] == ["system", "user"]
    await asyncio.wait_for(llm.cancelled.wait(), 30)


async def test_a_token_budget_ends_the_run_with_its_own_status(agents: Any) -> None:
    """Once usage reaches max_total_tokens the run ends max_tokens, whatever turns are left."""
    llm = ScriptedLLM.from_data(
        {
            "turns": [
                {
                    "usage": {"prompt_tokens": 60, "completion_tokens": 10, "total_tokens": 70},
                    "tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}],
                },
                {
                    "usage": {"prompt_tokens": 60, "completion_tokens": 10, "total_tokens": 70},
                    "tool_calls": [{"name": "calculator", "arguments": {"expression": "2+2"}}],
                },
                {"content": "never reached"},
            ]
        }
    )
    handle = await agents.start(llm, AgentInput(goal="count", max_total_tokens=100))
    result = await handle.result()
    assert result.status == AgentStatus.MAX_TOKENS
    assert result.usage.total_tokens == 140
    assert result.turns == 2


async def test_the_transcript_query_pages(agents: Any) -> None:
    """The transcript query returns exactly the asked range, with the total, for paging."""
    handle = await agents.start(_answers("one", "two", "three"), AgentInput(goal="a", chat=True))
    for text in ("b", "c"):
        await handle.execute_update(
            AgentWorkflow.send_message, UserMessage(text, wait_for_answer=True)
        )
    page: TranscriptPage = await handle.query(AgentWorkflow.transcript, TranscriptRequest(2, 5))
    assert (page.start, page.total) == (2, 7)
    assert [m.content for m in page.messages] == ["one", "b", "two"]
    tail: TranscriptPage = await handle.query(AgentWorkflow.transcript, TranscriptRequest(6))
    assert [m.content for m in tail.messages] == ["three"]
    await handle.signal(AgentWorkflow.end)
    await handle.result()


@pytest.mark.dev_server  # continues as new while the test talks to it (servers.py says why)
async def test_a_conversation_continues_as_new_across_runs_with_messages_and_approvals(
    agents: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced to continue-as-new every few events, a conversation keeps its transcript, usage,
    messages and approvals across at least two new runs, and the LLM always sees it all."""
    turns: list[dict[str, Any]] = []
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    for i in range(3):
        turns.append(
            {
                "usage": usage,
                "expect": {"role": "user", "contains": f"q{i}"},
                "tool_calls": [
                    {"id": f"s{i}", "name": "web_search", "arguments": {"query": "Temporal"}}
                ],
            }
        )
        turns.append({"usage": usage, "expect": {"role": "tool"}, "content": f"a{i}"})
    llm = ScriptedLLM.from_data({"turns": turns})
    handle = await agents.start(
        llm,
        AgentInput(
            goal="q0", chat=True, approval_required=["web_search"], continue_as_new_after_events=12
        ),
    )
    run_ids = set()
    for i in range(3):
        await _until(handle, lambda s: s.phase == "waiting for approval")
        run_ids.add((await handle.describe()).run_id)
        await handle.execute_update(AgentWorkflow.approve, ApprovalRequest(reason=f"ok {i}"))
        await _until(
            handle, lambda s, i=i: s.phase == "waiting for the user" and s.turns == 2 * i + 2
        )
        run_ids.add((await handle.describe()).run_id)
        if i < 2:
            await handle.execute_update(AgentWorkflow.send_message, UserMessage(f"q{i + 1}"))
    assert len(run_ids) >= 3
    progress = await _status(handle)
    assert (progress.requests, progress.turns, progress.tool_calls) == (3, 6, 3)
    await handle.signal(AgentWorkflow.end)
    result = await handle.result()
    assert result.status == AgentStatus.ENDED
    assert result.usage.total_tokens == 60  # six turns of 10, added up across the runs
    # Pages of three messages: a run still going is read page by page (the closed ones
    # here are read off their histories, closed_runs.py).
    monkeypatch.setattr(transcript_reader, "PAGE_SIZE", 3)
    replayed = _replays_noted(monkeypatch)
    whole = await transcript_reader.read_transcript(agents.env.client, handle.id)
    # No run was replayed: those that continued as new were read off their LLM requests,
    # the last off its result too, and to the same messages as replaying every run.
    assert replayed == []
    monkeypatch.setattr(closed_runs, "recorded_page", _vouching_for_nothing)
    assert await transcript_reader.read_transcript(agents.env.client, handle.id) == whole
    assert len(replayed) == len(run_ids)
    assert [m.content for m in whole if m.role == "user"] == ["q0", "q1", "q2"]
    assert [m.content for m in whole if m.role == "approval"] == [
        "approved by user: ok 0",
        "approved by user: ok 1",
        "approved by user: ok 2",
    ]
    assert len(whole) == result.transcript_length
    window = await transcript_reader.read_transcript(agents.env.client, handle.id, 3, 9)
    assert window == whole[3:9]
    # The LLM's last request held the whole conversation (bar the audit entries).
    seen_by_llm = [m for m in whole if m.role != "approval"][:-1]  # all but its own answer
    assert llm.requests[-1].messages == seen_by_llm


async def _vouching_for_nothing(*args: Any) -> None:
    """closed_runs.recorded_page as for a run whose history vouches for nothing: replay it."""
    return None


def _replays_noted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The run ids closed_runs replays from now on, in order."""
    replayed: list[str] = []
    real = closed_runs._replayed_page

    async def noting(*args: Any) -> Any:
        replayed.append(args[2])
        return await real(*args)

    monkeypatch.setattr(closed_runs, "_replayed_page", noting)
    return replayed


@pytest.mark.dev_server  # continues as new (servers.py says why)
async def test_reading_from_the_first_message_reads_the_runs_before_ahead_without_replays(
    agents: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished conversation of several runs (tools inline and as activities), read from
    its first message, has its earlier runs read off their histories while later ones are
    (at most READ_AHEAD at once), none of them replayed, and comes back the same as with
    every run replayed one at a time; read from within its last run, only that one is read."""
    steps = 6
    inline = {"name": "calculator", "arguments": {"expression": "1+1"}}
    activity = {"name": "web_search", "arguments": {"query": "Temporal"}}
    turns: list[dict[str, Any]] = [
        {"tool_calls": [{"id": f"c{i}", **(inline if i % 2 else activity)}]} for i in range(steps)
    ]
    turns.append({"content": "done"})
    handle = await agents.start(
        ScriptedLLM.from_data({"turns": turns}),
        AgentInput(goal="count", continue_as_new_after_events=8),
    )
    result = await handle.result()
    assert result.status == AgentStatus.COMPLETED
    last_run = (await handle.describe()).run_id
    reading: list[str] = []
    most = 0
    all_in = asyncio.Event()
    real = closed_runs.recorded_page

    async def watched(history: Any, converter: Any) -> Any:
        nonlocal most
        reading.append(history.run_id)
        most = max(most, len(reading))
        if most == transcript_reader.READ_AHEAD:
            all_in.set()
        try:
            # Each read waits (a bounded while) for the runs read ahead to join it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), 5)
            return await real(history, converter)
        finally:
            reading.remove(history.run_id)

    monkeypatch.setattr(closed_runs, "recorded_page", watched)
    replayed = _replays_noted(monkeypatch)
    ahead = await transcript_reader.read_transcript(agents.env.client, handle.id)
    assert most == transcript_reader.READ_AHEAD  # never more, and not one at a time
    assert replayed == []
    monkeypatch.setattr(closed_runs, "recorded_page", _vouching_for_nothing)
    monkeypatch.setattr(transcript_reader, "READ_AHEAD", 1)
    one_by_one = await transcript_reader.read_transcript(agents.env.client, handle.id)
    assert ahead == one_by_one
    assert len(replayed) > 3  # every run, this time
    assert len(ahead) == result.transcript_length
    assert [m.content for m in ahead if m.role == "assistant"][-1] == "done"
    assert {m.name for m in ahead if m.role == "tool"} == {"calculator", "web_search"}
    replayed.clear()
    last = await transcript_reader.read_transcript(
        agents.env.client, handle.id, result.transcript_length - 1
    )
    assert last == ahead[-1:]
    assert replayed == [last_run]  # that run only (recorded_page vouches for nothing now)


async def test_a_closed_conversation_reads_back_with_no_worker_left(
    own_agents: Any,
) -> None:
    """A finished conversation's transcript is read by replaying its history in the reader's
    process: with every worker gone (no query could be answered) it still reads back whole."""
    handle = await own_agents.start(_answers("one", "two"), AgentInput(goal="first", chat=True))
    await _until(handle, lambda s: s.phase == "waiting for the user")
    await handle.execute_update(AgentWorkflow.send_message, UserMessage("second"))
    await handle.signal(AgentWorkflow.end)
    result = await handle.result()
    await own_agents.close()  # the workers stop; nobody answers a query any more
    whole = await transcript_reader.read_transcript(own_agents.env.client, handle.id)
    assert [m.content for m in whole if m.role in ("user", "assistant")] == [
        "first",
        "one",
        "second",
        "two",
    ]
    assert len(whole) == result.transcript_length


async def test_handlers_answer_to_their_recorded_names(agents: Any) -> None:
    """Clients reach the conversation by the handler names history and other clients use
    (send_message, approve, reject, end, status, transcript), not by Python method names."""
    llm = ScriptedLLM.from_data(
        {
            "turns": [
                {
                    "expect": {"role": "user"},
                    "tool_calls": [
                        {"id": "a", "name": "web_search", "arguments": {"query": "temporal"}},
                        {"id": "b", "name": "web_search", "arguments": {"query": "agents"}},
                    ],
                },
                {"expect": {"role": "tool"}, "content": "first answered"},
                {"expect": {"role": "user"}, "content": "second answered"},
            ]
        }
    )
    agent_input = AgentInput(goal="hello", chat=True, approval_required=["web_search"])
    handle = await agents.start(llm, agent_input)
    await _until(handle, lambda s: len(s.awaiting_approval) == 2)
    approved = await handle.execute_update("approve", ApprovalRequest("a"), result_type=list[str])
    rejected = await handle.execute_update(
        "reject", ApprovalRequest("b", "no"), result_type=list[str]
    )
    assert (approved, rejected) == (["a"], ["b"])
    await _until(handle, lambda s: s.phase == "waiting for the user")
    reply = await handle.execute_update(
        "send_message", UserMessage("and now?", wait_for_answer=True), result_type=Reply
    )
    assert reply.answer == "second answered", reply
    progress = await handle.query("status", result_type=AgentProgress)
    assert progress.requests == 2
    page = await handle.query("transcript", TranscriptRequest(), result_type=TranscriptPage)
    assert page.messages[-1].content == "second answered"
    await handle.signal("end")
    assert (await handle.result()).status == AgentStatus.ENDED
