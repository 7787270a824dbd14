"""Showing a conversation as it grows, read through the `transcript` query."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import TextIO

from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from agentic_loop.cli.common import POLL_SECONDS, Handle
from agentic_loop.cli.output import shorten
from agentic_loop.types import Message, TranscriptPage, TranscriptRequest
from agentic_loop.workflow import AgentWorkflow


class StepPrinter:
    def __init__(self, out: TextIO, *, show_answers: bool = False) -> None:
        self.out = out
        self.seen = 2  # the system prompt and the goal are shown before the run
        self.turn = 0
        # A chat shows each answer as it comes; `run` prints the final one at the end.
        self.show_answers = show_answers
        # Calls a person rejected: their rejection line says it all, so their (error) tool
        # result is not shown as a second line.
        self.rejected: set[str] = set()
        # Called before anything is printed (the live line clears itself there).
        self.before_print: Callable[[], None] | None = None

    def show(self, messages: Sequence[Message]) -> None:
        if messages and self.before_print is not None:
            self.before_print()
        for message in messages:
            if message.role == "assistant":
                self.turn += 1
                for call in message.tool_calls:
                    print(
                        f"[turn {self.turn}] LLM calls {call.name}({call.arguments})", file=self.out
                    )
                if not message.tool_calls and self.show_answers:
                    print(f"agent> {message.content}", file=self.out)
                elif not message.tool_calls:
                    print(f"[turn {self.turn}] LLM answers", file=self.out)
            elif message.role == "tool":
                if message.tool_call_id in self.rejected:
                    continue
                mark = "refused:" if message.is_error else "->"
                print(
                    f"[turn {self.turn}] {message.name} {mark} {shorten(message.content)}",
                    file=self.out,
                )
            elif message.role == "approval":
                if message.is_error and message.tool_call_id:
                    self.rejected.add(message.tool_call_id)
                print(f"[turn {self.turn}] {message.name} {message.content}", file=self.out)
            elif message.role == "user" and not self.show_answers:
                print(f"[user] {shorten(message.content)}", file=self.out)
        self.out.flush()

    async def poll(self, handle: Handle) -> None:
        with contextlib.suppress(RPCError, WorkflowFailureError):
            page: TranscriptPage = await handle.query(
                AgentWorkflow.transcript, TranscriptRequest(start=self.seen)
            )
            self.show(page.messages)
            self.seen = page.start + len(page.messages)

    async def follow(self, handle: Handle) -> None:
        while True:
            await self.poll(handle)
            await asyncio.sleep(POLL_SECONDS)
