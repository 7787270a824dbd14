"""A closed run's messages, read off what its history recorded instead of replaying it.

Every message a run sends to the model is in exactly one `call_llm` request's delta
(LLMRequest.new_messages, and LLMRequest.recorded for those an activity returned, by key and
the workflow's own checksum), placed at LLMRequest.history_length. So:

- a run that continued as new: a reader takes from it only the messages before the next
  run's base, which are the ones it sent, all in its requests;
- a run that ended with a result (completed, or failed with the result as the failure's
  detail): the result holds its newest messages (AgentResult.transcript, from
  transcript_start on), which in a conversation of any length reach back to its last
  request's; the requests hold the rest.

A replay costs about 2 ms of CPU a step, this a fraction of that. Nothing here guesses: a
reference it cannot resolve to a message with the recorded checksum, a delta that leaves a
gap, a result whose messages do not meet the sent ones, or a run that ended otherwise gives
None, and the caller replays the run instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from agentic_loop.transcript.keys import (
    assistant_message,
    llm_turn_key,
    message_checksum,
    tool_idempotency_key,
    tool_message,
    tool_result_key,
)
from agentic_loop.types import (
    AgentInput,
    AgentResult,
    LLMRequest,
    LLMTurn,
    Message,
    ToolRequest,
    ToolResult,
    TranscriptPage,
)
from agentic_loop.workflow.visibility import AGENT_FAILED

# The activity names are recorded (activities.py), so they can be matched on here.
_LLM = "call_llm"
_TOOL = "run_tool"
_SCHEDULED = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
_COMPLETED = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
_CONTINUED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
_ENDINGS = (
    _CONTINUED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
)
T = TypeVar("T")


async def _decoded(
    converter: DataConverter, payloads: dict[int, Payload], kind: type[T]
) -> dict[int, T]:
    """Each payload decoded to a `kind`, as a worker would (codec, store), in one call."""
    if not payloads:
        return {}
    values = await converter.decode(list(payloads.values()), [kind] * len(payloads))
    return dict(zip(payloads, values, strict=True))


def _only(payloads: Sequence[Payload]) -> Payload | None:
    return payloads[0] if len(payloads) == 1 else None


@dataclass
class RecordedPage:
    """A closed run's messages as its history holds them. `whole`: all of them (a run that
    ended with a result); else those it sent to the LLM (a run that continued as new), up to
    the next run's base, which is `page.total`."""

    page: TranscriptPage
    whole: bool


async def recorded_page(history: WorkflowHistory, converter: DataConverter) -> RecordedPage | None:
    """The closed run's messages from its history, or None where it does not vouch for
    every one of them."""
    events = history.events
    if (
        not events
        or events[0].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        or events[-1].event_type not in _ENDINGS
    ):
        return None
    ending = None  # the AgentResult the run ended with, unless it continued as new
    if events[-1].event_type != _CONTINUED:
        ending = await _result(events[-1], converter)
        if ending is None:
            return None
    started = _only(events[0].workflow_execution_started_event_attributes.input.payloads)
    if started is None:
        return None
    carried = (await _decoded(converter, {0: started}, AgentInput))[0].carried
    base = carried.transcript_base if carried is not None else 0
    previous = carried.previous_run_id if carried is not None else None

    requests: dict[int, tuple[str, Payload]] = {}  # scheduled event id -> (activity, input)
    answers: list[tuple[str, int, Payload]] = []  # (activity, scheduled event id, result)
    for event in events:
        if not _scheduled_or_completed(event, requests, answers):
            return None
    llm = await _decoded(
        converter, {i: p for i, (n, p) in requests.items() if n == _LLM}, LLMRequest
    )
    tools = await _decoded(
        converter, {i: p for i, (n, p) in requests.items() if n == _TOOL}, ToolRequest
    )
    turns = await _decoded(converter, {i: p for n, i, p in answers if n == _LLM}, LLMTurn)
    results = await _decoded(converter, {i: p for n, i, p in answers if n == _TOOL}, ToolResult)

    # The messages activities returned, under the keys the workflow refers to them by.
    produced: dict[str, Message] = {}
    for scheduled, turn in turns.items():
        request = llm[scheduled]
        produced[llm_turn_key(request.conversation_id, request.turn)] = assistant_message(turn)
        for inline in turn.tool_results:
            key = tool_idempotency_key(history.workflow_id, request.turn, inline.call_id)
            produced[tool_result_key(key)] = tool_message(inline)
    for scheduled, result in results.items():
        produced[tool_result_key(tools[scheduled].idempotency_key)] = tool_message(result)

    sent: list[Message] = []  # messages[base:] as the requests place them
    for request in llm.values():  # in the order they were scheduled
        delta = _delta(request, produced)
        at = request.history_length - base
        if delta is None or at < 0 or at > len(sent):
            return None
        if at < len(sent) and at + len(delta) > len(sent):
            return None  # a delta overlapping the sent ones but not the same: not ours
        for offset, message in enumerate(delta):
            if at + offset < len(sent):
                # The same delta again (a call that failed over to the next provider).
                if sent[at + offset] != message:
                    return None
            else:
                sent.append(message)
    if ending is None:
        page = TranscriptPage(
            sent, start=base, total=base + len(sent), base=base, previous_run_id=previous
        )
        return RecordedPage(page, whole=False)
    # The result's newest messages [kept, total) must meet the sent ones [base, sent end).
    kept, total, end = ending.transcript_start, ending.transcript_length, base + len(sent)
    if not base <= kept <= end or kept + len(ending.transcript) != total or total < end:
        return None
    if sent[kept - base :] != ending.transcript[: end - kept]:
        return None
    messages = sent[: kept - base] + ending.transcript
    page = TranscriptPage(messages, start=base, total=total, base=base, previous_run_id=previous)
    return RecordedPage(page, whole=True)


async def _result(event: HistoryEvent, converter: DataConverter) -> AgentResult | None:
    """The AgentResult a run ended with: its result, or the detail of an agent's failure."""
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        payload = _only(event.workflow_execution_completed_event_attributes.result.payloads)
    else:
        failure = event.workflow_execution_failed_event_attributes.failure
        if failure.application_failure_info.type != AGENT_FAILED:
            return None
        payload = _only(failure.application_failure_info.details.payloads)
    if payload is None:
        return None
    result: AgentResult = (await _decoded(converter, {0: payload}, AgentResult))[0]
    return result


def _scheduled_or_completed(
    event: HistoryEvent,
    requests: dict[int, tuple[str, Payload]],
    answers: list[tuple[str, int, Payload]],
) -> bool:
    """Note a scheduled or completed activity of ours; False for one whose payload is not the
    single value it should be."""
    if event.event_type == _SCHEDULED:
        attributes = event.activity_task_scheduled_event_attributes
        name = attributes.activity_type.name
        if name in (_LLM, _TOOL):
            payload = _only(attributes.input.payloads)
            if payload is None:
                return False
            requests[event.event_id] = (name, payload)
    elif event.event_type == _COMPLETED:
        completed = event.activity_task_completed_event_attributes
        name, _ = requests.get(completed.scheduled_event_id, ("", None))
        if name:
            payload = _only(completed.result.payloads)
            if payload is None:
                return False
            answers.append((name, completed.scheduled_event_id, payload))
    return True


def _delta(request: LLMRequest, produced: dict[str, Message]) -> list[Message] | None:
    """The request's messages in order, each reference replaced by the message an activity
    returned under its key, if that message has the checksum the workflow recorded."""
    size = len(request.new_messages) + len(request.recorded)
    referred: dict[int, Message] = {}
    for ref in request.recorded:
        message = produced.get(ref.key)
        if (
            message is None
            or not 0 <= ref.position < size
            or ref.position in referred
            or message_checksum(message) != ref.checksum
        ):
            return None
        referred[ref.position] = message
    rest = iter(request.new_messages)
    return [referred[p] if p in referred else next(rest) for p in range(size)]
