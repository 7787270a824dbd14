"""The state of a conversation, as the workflow holds it and hands it across continue-as-new.

One dataclass holds everything that must survive a new run; `carry()` turns it into the
recorded `CarriedState` and `resume()` back, so nothing can be carried by half. What does not
cross a run (calls in flight, open approvals, replies to updates) lives elsewhere: a run only
continues as new when none of it is left (`should_continue_as_new`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentic_loop.transcript.keys import catalog_key, message_checksum
from agentic_loop.types import (
    CarriedState,
    Failover,
    Message,
    MessageRef,
    PendingRequest,
    ToolSpec,
    TranscriptPage,
    Usage,
)


@dataclass
class ConversationState:
    # The first run's id, kept by every later run: the key of the worker's cache.
    conversation_id: str
    previous_run_id: str | None
    # Global index of transcript[0]: earlier messages are held by earlier runs.
    base: int
    transcript: list[Message]
    # Messages (global count) already sent to the LLM activity: the next request carries
    # only the rest.
    sent: int = 0
    turns: int = 0
    request_turns: int = 0
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    requests: int = 1  # requests received; the goal is the first
    current: int = 1  # the request being worked on (or last worked on)
    answered: int = 0
    # Messages received and not yet worked on.
    inbox: list[PendingRequest] = field(default_factory=list)
    # Dollars the LLM turns cost, as the workers priced them.
    cost_usd: float = 0.0
    # The provider calls go to after failovers (None: the worker's first), and the moves.
    provider: str | None = None
    failovers: list[Failover] = field(default_factory=list)
    # The run's tools from outside the program (MCP servers'), as the first LLM turn that
    # offered any recorded them (tools/catalog.py), and the key later requests name it by.
    tool_catalog: list[ToolSpec] = field(default_factory=list)
    catalog_key: str | None = None
    # The queue of the worker that made the last LLM turn, which holds the transcript: the
    # next calls go there (workflow/affinity.py). None: the shared queue.
    worker_queue: str | None = None

    @classmethod
    def start(cls, conversation_id: str, system_prompt: str, goal: str) -> ConversationState:
        return cls(
            conversation_id=conversation_id,
            previous_run_id=None,
            base=0,
            transcript=[
                Message(role="system", content=system_prompt),
                Message(role="user", content=goal),
            ],
        )

    @classmethod
    def resume(cls, carried: CarriedState) -> ConversationState:
        return cls(
            conversation_id=carried.conversation_id,
            previous_run_id=carried.previous_run_id,
            base=carried.transcript_base,
            transcript=list(carried.messages),
            sent=carried.sent,
            turns=carried.turns,
            request_turns=carried.request_turns,
            tool_calls=carried.tool_calls,
            usage=carried.usage,
            requests=carried.requests,
            current=carried.current,
            answered=carried.answered,
            inbox=list(carried.inbox),
            cost_usd=carried.cost_usd,
            provider=carried.provider,
            failovers=list(carried.failovers),
            tool_catalog=list(carried.tool_catalog),
            catalog_key=catalog_key(carried.tool_catalog) if carried.tool_catalog else None,
            worker_queue=carried.worker_queue,
        )

    def adopt_catalog(self, specs: list[ToolSpec]) -> None:
        """Keep the first catalog an LLM turn recorded; any later one is ignored (a turn only
        returns one when its request named none, so a retried first turn, say)."""
        if specs and not self.tool_catalog:
            self.tool_catalog = list(specs)
            self.catalog_key = catalog_key(self.tool_catalog)

    @property
    def total(self) -> int:
        """Messages in the whole conversation, earlier runs included."""
        return self.base + len(self.transcript)

    def message(self, index: int) -> Message:
        """The message at global `index` (held by this run)."""
        return self.transcript[index - self.base]

    def unsent(self, produced: dict[int, str]) -> tuple[list[Message], list[MessageRef]]:
        """What the next LLM request must bring the worker: the messages not yet sent, except
        those an activity returned (`produced`: index -> cache key, taken out here), which it
        refers to by key and checksum instead (transcript/keys.py)."""
        new_messages: list[Message] = []
        recorded: list[MessageRef] = []
        for index in range(self.sent, self.total):
            message = self.message(index)
            key = produced.pop(index, None)
            if key is None:
                new_messages.append(message)
            else:
                recorded.append(MessageRef(index - self.sent, key, message_checksum(message)))
        return new_messages, recorded

    def page(self, start: int, end: int | None) -> TranscriptPage:
        """The `transcript` query's answer: messages [start, end) by global index, clipped to
        what this run holds, and where the earlier ones are."""
        start = max(self.base, min(start, self.total))
        end = self.total if end is None else max(start, min(end, self.total))
        return TranscriptPage(
            messages=self.transcript[start - self.base : end - self.base],
            start=start,
            total=self.total,
            base=self.base,
            previous_run_id=self.previous_run_id,
        )

    def carry(self, run_id: str) -> CarriedState:
        """The state for the next run. What the LLM has been sent stays behind, in this run
        and in the workers' caches; the next run starts its transcript there."""
        keep_from = self.sent
        return CarriedState(
            conversation_id=self.conversation_id,
            previous_run_id=run_id,
            transcript_base=keep_from,
            messages=self.transcript[keep_from - self.base :],
            sent=self.sent,
            turns=self.turns,
            request_turns=self.request_turns,
            tool_calls=self.tool_calls,
            usage=self.usage,
            requests=self.requests,
            current=self.current,
            answered=self.answered,
            inbox=list(self.inbox),
            cost_usd=self.cost_usd,
            provider=self.provider,
            failovers=list(self.failovers),
            tool_catalog=list(self.tool_catalog),
            worker_queue=self.worker_queue,
        )


def should_continue_as_new(
    *, suggested: bool, history_length: int, threshold: int | None, busy: bool
) -> bool:
    """Whether to continue as new now: Temporal suggests it (or the history passed the input's
    threshold), and nothing is in flight: no tool call, approval or update half-done."""
    due = suggested or (threshold is not None and history_length >= threshold)
    return due and not busy
