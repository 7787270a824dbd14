"""AgentRun: one agent run that ended, with what a test asserts on it.

Every assertion fails with an AssertionError whose message is a sentence naming what was
expected and what happened, so a failing test explains itself without a debugger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from agentic_loop.llm.base import LLMProvider
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import AgentResult, Message, ToolCall

if TYPE_CHECKING:
    from agentic_loop.temporal.plugin import AgentLoopPlugin

LLM_ACTIVITY = "call_llm"


@dataclass
class AgentRun:
    """An agent run that ended: its result, whole transcript and event history.

    histories: one per workflow run, first to last (a conversation that continued as new has
    several); `history` is the last one's.
    provider: the model it was run with (a ScriptedLLM records its `requests`); None when the
    worker's came from the plugin.
    """

    result: AgentResult
    handle: WorkflowHandle[Any, AgentResult]
    provider: LLMProvider | None
    transcript: list[Message]
    histories: list[WorkflowHistory]
    plugin: AgentLoopPlugin | None = None

    @property
    def history(self) -> WorkflowHistory:
        return self.histories[-1]

    # ---- what the model asked for ----------------------------------------------------------

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Every tool call the model asked for, in order (approved or not, run or not)."""
        return [call for m in self.transcript if m.role == "assistant" for call in m.tool_calls]

    def tool_result(self, call: ToolCall) -> Message | None:
        """The tool message answering `call`, or None if it was never answered."""
        for message in self.transcript:
            if message.role == "tool" and message.tool_call_id == call.id:
                return message
        return None

    def assert_called(self, tool: str, /, **arguments: Any) -> ToolCall:
        """The model called `tool` with (at least) these arguments; that call."""
        for call in self.tool_calls:
            if call.name == tool and _has_arguments(call, arguments):
                return call
        wanted = f"a call of {tool}" + (f" with {_shown_arguments(arguments)}" if arguments else "")
        raise AssertionError(f"expected {wanted}, but {self._calls_made()}")

    def assert_not_called(self, tool: str) -> None:
        calls = [call for call in self.tool_calls if call.name == tool]
        if calls:
            shown = ", ".join(_shown_call(call) for call in calls)
            raise AssertionError(f"expected no call of {tool}, but the model called {shown}")

    def _calls_made(self) -> str:
        if not self.tool_calls:
            return "the model called no tool"
        return "the model called " + ", ".join(_shown_call(call) for call in self.tool_calls)

    # ---- what the history says -------------------------------------------------------------

    @property
    def llm_attempts(self) -> list[int]:
        """How many attempts each LLM call took, turn by turn: from the history, so it holds
        whatever the provider (retries of one activity are recorded once, as the attempt
        that last started; a call never started counts 0)."""
        attempts: list[int] = []
        for history in self.histories:
            turn_of: dict[int, int] = {}
            for event in history.events:
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                    scheduled = event.activity_task_scheduled_event_attributes
                    if scheduled.activity_type.name == LLM_ACTIVITY:
                        turn_of[event.event_id] = len(attempts)
                        attempts.append(0)
                elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    started = event.activity_task_started_event_attributes
                    turn = turn_of.get(started.scheduled_event_id)
                    if turn is not None:
                        attempts[turn] = started.attempt
        return attempts

    def assert_attempts(self, turn: int, attempts: int) -> None:
        """The LLM call of turn `turn` (counting from 1) took `attempts` attempts."""
        made = self.llm_attempts
        if not 1 <= turn <= len(made):
            raise AssertionError(
                f"expected the LLM call of turn {turn} to be attempted {attempts} times, but "
                f"the run made {len(made)} LLM call(s)"
            )
        if made[turn - 1] != attempts:
            raise AssertionError(
                f"expected the LLM call of turn {turn} to be attempted {attempts} times, but it "
                f"was attempted {made[turn - 1]} times (attempts turn by turn: "
                f"{', '.join(map(str, made))})"
            )

    @property
    def history_bytes(self) -> int:
        """The size of the largest run's history as the server stores it (protobuf), which
        is what Temporal's 50 MB limit counts."""
        return max(History(events=h.events).ByteSize() for h in self.histories)

    def assert_history_under(self, limit: int) -> None:
        """Each run's history is under `limit` bytes."""
        for number, history in enumerate(self.histories, 1):
            size = History(events=history.events).ByteSize()
            if size >= limit:
                which = f"run {number} of {len(self.histories)}'s" if number > 1 else "the"
                raise AssertionError(
                    f"expected {which} history to stay under {limit:,} bytes, but it is "
                    f"{size:,} bytes ({len(history.events)} events)"
                )

    @property
    def elapsed(self) -> timedelta:
        """Workflow time from the start of the first run to the last event: what the
        time-skipping server jumped over shows here, not on the wall clock."""
        first = self.histories[0].events[0].event_time.ToDatetime()
        last = self.histories[-1].events[-1].event_time.ToDatetime()
        return last - first

    async def assert_replays(self, plugin: AgentLoopPlugin | None = None) -> None:
        """Each run's history replays against the code here, with `plugin` (the one the run's
        client was connected with unless given): ReplayFailed if one does not."""
        from agentic_loop.testing.replaying import replay

        for history in self.histories:
            await replay(history, plugin if plugin is not None else self.plugin)


async def collect_run(
    client: Client,
    handle: WorkflowHandle[Any, AgentResult],
    result: AgentResult,
    provider: LLMProvider | None,
) -> AgentRun:
    """The AgentRun of a workflow that ended: its whole transcript (from the result, or through
    the `transcript` query, which a worker must still serve, when the result holds only the
    newest messages) and every run's history."""
    from agentic_loop.temporal.plugin import plugin_of

    if result.transcript_start == 0 and len(result.transcript) == result.transcript_length:
        # The result holds the whole conversation: a query would make the worker replay the
        # closed workflow's history to answer it, once per page.
        transcript = list(result.transcript)
    else:
        transcript = await read_transcript(client, handle.id)
    return AgentRun(
        result=result,
        handle=handle,
        provider=provider,
        transcript=transcript,
        histories=await fetch_histories(client, handle),
        plugin=plugin_of(client),
    )


async def fetch_histories(
    client: Client, handle: WorkflowHandle[Any, Any]
) -> list[WorkflowHistory]:
    """The history of each run from the handle's on, following continue-as-new."""
    run_id = handle.first_execution_run_id or handle.run_id
    if run_id is None:
        return [await handle.fetch_history()]
    histories: list[WorkflowHistory] = []
    next_run: str | None = run_id
    while next_run is not None:
        history = await client.get_workflow_handle(handle.id, run_id=next_run).fetch_history()
        histories.append(history)
        last = history.events[-1]
        next_run = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            continued = last.workflow_execution_continued_as_new_event_attributes
            next_run = continued.new_execution_run_id
    return histories


def _has_arguments(call: ToolCall, wanted: dict[str, Any]) -> bool:
    if not wanted:
        return True
    try:
        given = json.loads(call.arguments)
    except json.JSONDecodeError:
        return False
    return isinstance(given, dict) and all(
        key in given and given[key] == value for key, value in wanted.items()
    )


def _shown_arguments(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in arguments.items())


def _shown_call(call: ToolCall) -> str:
    return f"{call.name}({call.arguments})"
