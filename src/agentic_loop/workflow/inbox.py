"""The conversation's inbox: messages a person sends while the agent works or waits.

Workflow code (deterministic). A message is numbered when it arrives and answered in order;
messages not yet worked on are part of the conversation's state, so they cross
continue-as-new and the next run answers them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

from agentic_loop.types import AgentStatus, PendingRequest, Reply, UserMessage
from agentic_loop.workflow.policies import MAX_MESSAGE_CHARS
from agentic_loop.workflow.state import ConversationState


class Inbox:
    def __init__(self, state: ConversationState) -> None:
        self.state = state
        self.replies: dict[int, Reply] = {}
        # `end` was signalled: no more messages; the conversation ends once they are answered.
        self.ended = False

    def check(self, message: UserMessage, *, chat: bool, closed: bool) -> None:
        """The validator of `send_message`: a refusal is a sentence the sender can act on."""
        if not chat:
            raise ValueError("this run is not a conversation: start it with chat=True")
        if closed or self.ended:
            raise ValueError("the conversation has ended")
        if not message.text.strip():
            raise ValueError("the message is empty")
        if len(message.text) > MAX_MESSAGE_CHARS:
            raise ValueError(
                f"the message has {len(message.text)} characters; the limit is {MAX_MESSAGE_CHARS}"
            )

    def post(self, text: str) -> int:
        """File a message; returns its request number."""
        self.state.requests += 1
        number = self.state.requests
        self.state.inbox.append(PendingRequest(number=number, text=text))
        return number

    def answer(self, number: int, status: AgentStatus, answer: str) -> None:
        self.replies[number] = Reply(number, status, answer)

    async def reply_to(self, number: int, status: Callable[[], AgentStatus]) -> Reply:
        """The reply to request `number` once it is answered, or the run's status if the run
        ends first."""
        await workflow.wait_condition(
            lambda: number in self.replies or status() != AgentStatus.RUNNING
        )
        return self.replies.get(number) or Reply(request=number, status=status())

    async def next_message(self, idle_timeout_seconds: float) -> PendingRequest | None:
        """The next message, or None once `end` has come and nothing is left to answer.
        Raises TimeoutError when nothing comes within the idle timeout (a durable timer)."""
        await workflow.wait_condition(
            lambda: bool(self.state.inbox) or self.ended,
            timeout=timedelta(seconds=idle_timeout_seconds),
            timeout_summary="waiting for the user",
        )
        if self.ended and not self.state.inbox:
            return None
        return self.state.inbox.pop(0)
