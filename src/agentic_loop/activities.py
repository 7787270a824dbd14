"""The two activities: `call_llm` and `run_tool`. Their names are fixed strings: renaming
one would break every workflow already running."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from temporalio import activity

from agentic_loop.llm.base import CompletionRequest, LLMProvider
from agentic_loop.llm.errors import ProviderError, raise_as_activity_error
from agentic_loop.tools.base import ToolContext, ToolRegistry
from agentic_loop.transcript_cache import TranscriptCache
from agentic_loop.types import (
    LLM_ROLES,
    LLMRequest,
    LLMTurn,
    Message,
    ToolRequest,
    ToolResult,
    TranscriptPage,
    TranscriptRequest,
)

# Messages per `transcript` query when the worker rebuilds a conversation it does not hold.
TRANSCRIPT_PAGE_SIZE = 500
DEFAULT_HEARTBEAT_INTERVAL = 5.0


class LLMActivities:
    def __init__(
        self,
        provider: LLMProvider,
        tools: ToolRegistry,
        cache: TranscriptCache | None = None,
    ) -> None:
        self.provider = provider
        self.tools = tools
        self.cache = cache if cache is not None else TranscriptCache()

    @activity.defn(name="call_llm")
    async def call_llm(self, request: LLMRequest) -> LLMTurn:
        info = activity.info()
        messages = await self._conversation(request)
        completion = CompletionRequest(
            # The approval audit trail is for people; the LLM sees the conversation only.
            messages=[m for m in messages if m.role in LLM_ROLES],
            tools=self.tools.schemas(request.tools),
            model=request.model or self.provider.default_model,
            attempt=info.attempt,
            elapsed_seconds=(
                info.current_attempt_scheduled_time - info.scheduled_time
            ).total_seconds(),
        )
        try:
            return await _heartbeating(self.provider.complete(completion))
        except ProviderError as e:
            raise_as_activity_error(e)

    async def _conversation(self, request: LLMRequest) -> list[Message]:
        info = activity.info()
        key = request.conversation_id or f"{info.workflow_id}/{info.workflow_run_id}"
        length = request.history_length
        messages = [] if length == 0 else self.cache.prefix(key, length)
        if messages is None:
            messages = await _fetch_transcript(info.workflow_id or "", info.workflow_run_id, length)
        messages.extend(request.new_messages)
        self.cache.store(key, messages)
        return messages


async def _fetch_transcript(workflow_id: str, run_id: str | None, length: int) -> list[Message]:
    """Ask the workflow for messages [0, length): after a worker restart, on another worker, or
    after continue-as-new, following the chain of runs back for what an earlier run holds.
    Queries are not recorded, so this adds nothing to history."""
    client = activity.client()
    runs: list[list[Message]] = []  # newest run first
    end = length
    while end > 0:
        if run_id is None:
            raise RuntimeError(f"workflow {workflow_id} no longer holds messages before {end}")
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        # An empty page first: it says where this run's messages start, and who holds the rest.
        head = await handle.query(
            "transcript", TranscriptRequest(start=end, end=end), result_type=TranscriptPage
        )
        held: list[Message] = []
        position = head.base
        while position < end:
            page = await handle.query(
                "transcript",
                TranscriptRequest(start=position, end=min(end, position + TRANSCRIPT_PAGE_SIZE)),
                result_type=TranscriptPage,
            )
            if not page.messages:
                raise RuntimeError(f"workflow {workflow_id} holds fewer than {end} messages")
            held.extend(page.messages)
            position += len(page.messages)
        runs.append(held)
        end, run_id = head.base, head.previous_run_id
    return [message for held in reversed(runs) for message in held]


async def _heartbeating(call: Coroutine[Any, Any, LLMTurn]) -> LLMTurn:
    """Await the provider while heartbeating, so a cancelled workflow (delivered with the
    heartbeat's answer) cancels the HTTP call, and a dead worker is noticed quickly."""
    timeout = activity.info().heartbeat_timeout
    interval = timeout.total_seconds() / 3 if timeout else DEFAULT_HEARTBEAT_INTERVAL
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        # On cancellation (or any error here) the provider call must not outlive the attempt:
        # wait for it to unwind, so its HTTP connection is closed before we report.
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class ToolActivities:
    def __init__(self, tools: ToolRegistry) -> None:
        self.tools = tools

    @activity.defn(name="run_tool")
    async def run_tool(self, request: ToolRequest) -> ToolResult:
        info = activity.info()
        context = ToolContext(
            workflow_id=info.workflow_id or "", idempotency_key=request.idempotency_key
        )
        return await self.tools.execute(request.call, context)
