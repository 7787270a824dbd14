"""transcript/recorded.py: a run's sent messages read off the LLM requests its history holds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import UnsandboxedWorkflowRunner

from agentic_loop.config import Settings
from agentic_loop.temporal.plugin import AgentLoopPlugin, data_converter, replayer
from agentic_loop.transcript import closed_runs
from agentic_loop.transcript.recorded import recorded_page
from agentic_loop.types import AgentInput, LLMRequest, MessageRef, TranscriptPage
from support import FIXTURES

CONTINUED = [
    path
    for path in sorted((FIXTURES / "histories").glob("chat_continue_as_new_run*.json"))
    if json.loads(path.read_text(encoding="utf-8"))["events"][-1]["eventType"]
    == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
]
CONVERTER = data_converter(Settings())


def _history(path: Path) -> WorkflowHistory:
    """A recorded history under its own workflow id (which inline tools' keys hold)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    started = data["events"][0]["workflowExecutionStartedEventAttributes"]
    return WorkflowHistory.from_json(started["workflowId"], data)


async def _replayed(history: WorkflowHistory) -> TranscriptPage:
    """The page a `transcript` query would have answered at the end of the run."""
    judge = replayer(
        AgentLoopPlugin(Settings()),
        workflow_runner=UnsandboxedWorkflowRunner(),
        interceptors=[closed_runs._KeepTranscript()],
    )
    result = await judge.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
    return closed_runs._pages.pop(history.run_id)


async def _next_base(path: Path) -> int | None:
    """Where the run after `path` (the next recorded file of the chain) starts its transcript."""
    number = int(path.stem.split("_run")[1].split("-")[0])
    following = path.with_name(path.name.replace(f"_run{number}", f"_run{number + 1}"))
    if not following.exists():
        return None
    first = _history(following).events[0].workflow_execution_started_event_attributes
    (input,) = await CONVERTER.decode(first.input.payloads, [AgentInput])
    assert input.carried is not None
    return int(input.carried.transcript_base)


def test_the_recorded_chain_has_runs_that_continued_as_new() -> None:
    """The histories the tests below read are there (else they would test nothing)."""
    assert len(CONTINUED) >= 6


@pytest.mark.parametrize("path", CONTINUED, ids=[p.name for p in CONTINUED])
async def test_a_run_that_continued_as_new_reads_as_its_replay_up_to_the_next_runs_base(
    path: Path,
) -> None:
    """For every recorded run that continued as new, the messages its requests hold are the
    replayed run's from its base up to where the next run starts, nothing more or less."""
    history = _history(path)
    recorded = await recorded_page(history, CONVERTER)
    assert recorded is not None
    assert not recorded.whole
    sent = recorded.page
    whole = await _replayed(history)
    assert (sent.base, sent.start, sent.previous_run_id) == (
        whole.base,
        whole.base,
        whole.previous_run_id,
    )
    assert sent.messages == whole.messages[: sent.total - sent.base]
    assert sent.messages  # each run of the chain sent something
    following = await _next_base(path)
    if following is not None:
        assert sent.total == following


async def _requests(history: WorkflowHistory) -> list[tuple[int, LLMRequest]]:
    """The run's LLM requests, each with the index of the event that scheduled it."""
    found = []
    for index, event in enumerate(history.events):
        attributes = event.activity_task_scheduled_event_attributes
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and attributes.activity_type.name == "call_llm"
        ):
            (request,) = await CONVERTER.decode(attributes.input.payloads, [LLMRequest])
            found.append((index, request))
    return found


async def _with_request(history: WorkflowHistory, index: int, **fields: object) -> WorkflowHistory:
    """`history` with the LLM request scheduled by event `index` changed, re-encoded."""
    events = list(history.events)
    attributes = events[index].activity_task_scheduled_event_attributes
    (request,) = await CONVERTER.decode(attributes.input.payloads, [LLMRequest])
    (payload,) = await CONVERTER.encode([dataclasses.replace(request, **fields)])
    changed = type(events[index])()
    changed.CopyFrom(events[index])
    del changed.activity_task_scheduled_event_attributes.input.payloads[:]
    changed.activity_task_scheduled_event_attributes.input.payloads.append(payload)
    events[index] = changed
    return WorkflowHistory(history.workflow_id, events)


async def _with_a_reference() -> tuple[WorkflowHistory, int, LLMRequest]:
    """A recorded run of the chain with a request that refers to a message by key."""
    for candidate in CONTINUED:
        history = _history(candidate)
        for index, request in await _requests(history):
            if request.recorded:
                return history, index, request
    raise AssertionError("no recorded request refers to a message by key")


async def test_a_reference_whose_checksum_differs_is_not_trusted() -> None:
    """A request referring to a message whose checksum is not the one recorded (a stale or
    wrong message under the key) makes the run unreadable this way: the reader replays it."""
    history, index, request = await _with_a_reference()
    ref = request.recorded[0]
    wrong = MessageRef(ref.position, ref.key, ref.checksum ^ 1)
    assert await recorded_page(history, CONVERTER) is not None
    tampered = await _with_request(history, index, recorded=[wrong, *request.recorded[1:]])
    assert await recorded_page(tampered, CONVERTER) is None


async def test_a_reference_to_no_recorded_message_is_not_trusted() -> None:
    """A key no activity of the run returned (a local activity's, say) gives None."""
    history, index, request = await _with_a_reference()
    ref = request.recorded[0]
    unknown = MessageRef(ref.position, ref.key + "/elsewhere", ref.checksum)
    tampered = await _with_request(history, index, recorded=[unknown, *request.recorded[1:]])
    assert await recorded_page(tampered, CONVERTER) is None


async def test_a_request_that_leaves_a_gap_is_not_trusted() -> None:
    """A first request placed after the run's base (messages nobody recorded) gives None."""
    history = _history(CONTINUED[1])
    index, request = (await _requests(history))[0]
    tampered = await _with_request(history, index, history_length=request.history_length + 1)
    assert await recorded_page(tampered, CONVERTER) is None


async def test_a_run_that_has_not_ended_is_left_to_the_replay() -> None:
    """A history without its last event (a run still going, or cut short) gives None."""
    history = _history(CONTINUED[0])
    ended = WorkflowHistory(history.workflow_id, list(history.events)[:-1])
    assert await recorded_page(ended, CONVERTER) is None


def _scheduled_twice(history: WorkflowHistory, index: int) -> WorkflowHistory:
    """`history` with the request of event `index` scheduled once more right after it, as a
    call that failed and went to the next provider with the same messages (no completion)."""
    events = list(history.events)
    again = type(events[index])()
    again.CopyFrom(events[index])
    again.event_id = max(e.event_id for e in events) + 1
    events.insert(index + 1, again)
    return WorkflowHistory(history.workflow_id, events)


async def test_the_same_request_scheduled_again_adds_nothing_and_a_different_one_is_refused() -> (
    None
):
    """A request sent again with the same delta (a failover) reads as sent once; one at the
    same place with other messages gives None rather than either version."""
    history, index, request = await _with_a_reference()
    once = await recorded_page(history, CONVERTER)
    assert once is not None
    twice = _scheduled_twice(history, index)
    again = await recorded_page(twice, CONVERTER)
    assert again is not None
    assert again.page == once.page
    changed = await _with_request(
        twice,
        index + 1,
        new_messages=[dataclasses.replace(m, content="other") for m in request.new_messages],
    )
    assert request.new_messages
    assert await recorded_page(changed, CONVERTER) is None


ALL = [p for p in sorted((FIXTURES / "histories").glob("*.json")) if p.name != "index.json"]
# Recorded when an approval's expiry read "no decision within 1.5 s, so it counts as
# rejected"; today's code words it without the tail. The run said the former, and its history
# says so; a replay says what today's code would have said.
REWORDED = {"approval_expired.json": ", so it counts as rejected"}
REWORDED["approval_expired-v3.json"] = REWORDED["approval_expired.json"]


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
async def test_every_recorded_run_read_off_its_history_reads_as_its_replay(path: Path) -> None:
    """Whatever a recorded run's history vouches for is what replaying it gives (bar words
    today's code changed): all its messages for a run that ended with a result, the sent
    ones for one that continued."""
    history = _history(path)
    recorded = await recorded_page(history, CONVERTER)
    if recorded is None:
        return
    replayed = await _replayed(history)
    if path.name in REWORDED:
        reworded = [
            dataclasses.replace(m, content=m.content + REWORDED[path.name])
            if m.is_error and m.tool_call_id is not None
            else m
            for m in replayed.messages
        ]
        assert reworded != replayed.messages
        replayed = dataclasses.replace(replayed, messages=reworded)
    if recorded.whole:
        assert recorded.page == replayed
    else:
        assert recorded.page.messages == replayed.messages[: recorded.page.total - replayed.base]


async def test_most_recorded_runs_are_read_without_a_replay() -> None:
    """The runs that ended with a result or continued as new are read off their history:
    all recorded ones but those cancelled, with their messages out of their result (a
    sub-agent's), or ended otherwise."""
    unread = [p.name for p in ALL if await recorded_page(_history(p), CONVERTER) is None]
    assert len(unread) < len(ALL) // 3, unread
    for ended in ("seed-v5.json", "non_retryable_401-v4.json"):  # completed; failed
        recorded = await recorded_page(_history(FIXTURES / "histories" / ended), CONVERTER)
        assert recorded is not None
        assert recorded.whole
