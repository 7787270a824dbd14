"""The two activities: `call_llm` and `run_tool`. Their names are fixed strings: renaming
one would break every workflow already running."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agentic_loop.llm.base import CompletionRequest, LLMProvider
from agentic_loop.llm.errors import ProviderError, raise_as_activity_error
from agentic_loop.llm.failover import ProviderChain, failover_details, is_outage
from agentic_loop.llm.pricing import PriceTable
from agentic_loop.tools import ToolContext, ToolRegistry
from agentic_loop.tools.agents import agent_schema
from agentic_loop.tools.catalog import CatalogCache, run_catalog
from agentic_loop.transcript.cache import TranscriptCache
from agentic_loop.transcript.keys import (
    assistant_message,
    llm_turn_key,
    message_checksum,
    tool_idempotency_key,
    tool_message,
    tool_result_key,
)
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import (
    LLM_ROLES,
    LLMRequest,
    LLMTurn,
    Message,
    ToolCall,
    ToolRequest,
    ToolResult,
    ToolSpec,
)

if TYPE_CHECKING:
    from agentic_loop.temporal.affinity import Affinity

T = TypeVar("T")

DEFAULT_HEARTBEAT_INTERVAL = 5.0

# How a `call_llm` attempt runs one inline tool call: given the call and a function that runs
# it. The worker's instrumentation sets it for each attempt, so an inline call is traced,
# counted and logged like a `run_tool` attempt; unset, the call just runs.
InlineToolRunner = Callable[
    [ToolRequest, Callable[[], Awaitable[ToolResult]]], Awaitable[ToolResult]
]
inline_tool_runner: ContextVar[InlineToolRunner | None] = ContextVar(
    "inline_tool_runner", default=None
)


def completion_request(
    provider: LLMProvider,
    tools: ToolRegistry,
    messages: list[Message],
    *,
    tools_offered: list[str] | None = None,
    model: str | None = None,
    catalog: list[ToolSpec] | None = None,
) -> CompletionRequest:
    """What the provider is asked, with this attempt's number and timing (from the activity's
    info: server time, so time skipped by the test server counts). `catalog`: the run's tools
    from outside the program, as recorded (tools/catalog.py)."""
    info = activity.info()
    return CompletionRequest(
        messages=messages,
        tools=tools.schemas(tools_offered, catalog),
        model=model or provider.default_model,
        attempt=info.attempt,
        elapsed_seconds=(info.current_attempt_scheduled_time - info.scheduled_time).total_seconds(),
    )


def cut_tool_result(message: Message, limit: int | None) -> Message:
    """A tool message whose content is over `limit` UTF-8 bytes, cut to at most that many
    (never mid-character), with a note of how many bytes were left out; anything else as it
    is. One tool that returns megabytes must not fill, or overflow, the model's context."""
    if limit is None or message.role != "tool":
        return message
    data = message.content.encode("utf-8")
    if len(data) <= limit:
        return message
    kept = data[: max(limit, 0)].decode("utf-8", "ignore")
    left_out = len(data) - len(kept.encode("utf-8"))
    note = f"\n[... {left_out:,} more bytes of this result were left out]"
    return dataclasses.replace(message, content=kept + note)


def offer_agents(schemas: list[dict[str, Any]], agents: dict[str, str]) -> list[dict[str, Any]]:
    """The tool schemas with the input's sub-agents (name -> description) added, each in place
    of a worker's tool of the same name: the input's is the one the workflow runs."""
    kept = [s for s in schemas if s.get("function", {}).get("name") not in agents]
    return kept + [agent_schema(name, description) for name, description in agents.items()]


class LLMActivities:
    def __init__(
        self,
        provider: LLMProvider,
        tools: ToolRegistry,
        cache: TranscriptCache | None = None,
        prices: PriceTable | None = None,
        affinity: Affinity | None = None,
    ) -> None:
        self.provider = provider
        self.tools = tools
        self.cache = cache if cache is not None else TranscriptCache()
        self.prices = prices if prices is not None else PriceTable()
        self.catalogs = CatalogCache()
        # This process's worker-specific queues (temporal/affinity.py); None: none offered.
        self.affinity = affinity

    @activity.defn(name="call_llm")
    async def call_llm(self, request: LLMRequest) -> LLMTurn:
        if self.affinity is None:
            return await self._call_llm(request)
        with self.affinity.call():
            read_back: list[bool] = []
            turn = await self._call_llm(request, read_back)
            # The worker that holds the conversation now, for the workflow's next calls.
            turn.worker_queue = self.affinity.queue_for(
                activity.info().task_queue,
                read_back=any(read_back),
                first=request.history_length == 0,
            )
        return turn

    async def _call_llm(self, request: LLMRequest, read_back: list[bool] | None = None) -> LLMTurn:
        # Heartbeating here too: reading the transcript back from a busy worker can take
        # longer than the heartbeat timeout, which would cancel the attempt mid-read.
        messages = await heartbeating(self._conversation(request, read_back))
        # The approval audit trail is for people; the LLM sees the conversation only, and of a
        # huge tool result only its start (the transcript keeps all of it).
        limit = request.tool_result_limit_bytes
        shown = [cut_tool_result(m, limit) for m in messages if m.role in LLM_ROLES]
        name, provider, next_provider = self._provider(request)
        catalog = await run_catalog(self.tools, self.catalogs, request.catalog_key)
        completion = completion_request(
            provider,
            self.tools,
            shown,
            tools_offered=request.tools,
            model=request.model,
            catalog=catalog,
        )
        if request.agents:
            completion.tools = offer_agents(completion.tools, request.agents)
        try:
            turn = await heartbeating(provider.complete(completion))
        except ProviderError as e:
            if next_provider is None:
                raise_as_activity_error(e)
            # With somewhere to go, an outage ends this provider's retries at once.
            final = is_outage(e, activity.info().attempt)
            raise_as_activity_error(e, failover_details(name, next_provider), final=final)
        turn.provider = name
        if request.catalog_key is None and catalog:
            turn.tool_catalog = catalog  # recorded with this turn: the run's from now on
        turn.cost_usd = self.prices.cost(turn.model or completion.model or "", turn.usage)
        self.cache.remember(
            llm_turn_key(self._key(request), request.turn),
            assistant_message(turn),
        )
        for call in turn.tool_calls:
            # A sub-agent of the input is the workflow's to run, whatever this worker has.
            tool = None if call.name in request.agents else self.tools.get(call.name)
            if tool is not None and tool.agent is not None:
                turn.agent_calls[call.id] = tool.agent
            if tool is not None and tool.approval:
                turn.approval_calls.append(call.id)
            if tool is not None and tool.timeout_seconds is not None:
                turn.call_timeouts[call.id] = tool.timeout_seconds
        if request.inline_tools and turn.tool_calls:
            # Heartbeating, so a cancelled workflow still reaches a slow tool here.
            turn.tool_results = await heartbeating(self._inline_results(request, turn))
        return turn

    def _provider(self, request: LLMRequest) -> tuple[str, LLMProvider, str | None]:
        """The provider the workflow asks for, its name, and the one after it, if any."""
        if not isinstance(self.provider, ProviderChain):
            if request.provider not in (None, self.provider.name):
                raise ApplicationError(
                    f"this worker has no provider {request.provider!r}; it has "
                    f"{self.provider.name!r} (set AGENTIC_LOOP_LLM to a list of providers)",
                    type="LLM_NO_SUCH_PROVIDER",
                )
            return self.provider.name, self.provider, request.next_provider
        try:
            name, provider = self.provider.get(request.provider)
        except KeyError as e:
            raise ApplicationError(str(e.args[0]), type="LLM_NO_SUCH_PROVIDER") from None
        if request.next_provider is not None:
            return name, provider, request.next_provider  # the input orders the providers
        return name, provider, self.provider.next_after(name)

    async def _inline_results(self, request: LLMRequest, turn: LLMTurn) -> list[ToolResult]:
        """Run the calls of tools in `request.inline_tools` here, one after another, if this
        worker has the tool and it is `pure`. A call left out (not pure, not here, or its tool
        raised) is run by the workflow as its own activity, with that activity's retries, as
        it would be without inline tools."""
        workflow_id = activity.info().workflow_id or ""
        results: list[ToolResult] = []
        for call in turn.tool_calls:
            tool = self.tools.get(call.name)
            if call.name not in request.inline_tools or tool is None or not tool.pure:
                continue
            if tool.approval:
                continue  # a call that needs approval never runs before the decision
            key = tool_idempotency_key(workflow_id, request.turn, call.id)
            context = ToolContext(workflow_id, key)

            def run(
                call: ToolCall = call,
                context: ToolContext = context,
                limit: float | None = tool.timeout_seconds,
            ) -> Awaitable[ToolResult]:
                # Past the tool's own limit it is left to its own activity, which has that
                # limit as its timeout.
                return asyncio.wait_for(self.tools.execute(call, context), limit)

            runner = inline_tool_runner.get()
            try:
                if runner is None:
                    result = await run()
                else:
                    result = await runner(ToolRequest(call=call, idempotency_key=key), run)
            except Exception:
                activity.logger.warning(
                    "inline tool %s raised; it will run as its own activity",
                    call.name,
                    exc_info=True,
                )
                continue
            self.cache.remember(tool_result_key(key), tool_message(result))
            results.append(result)
        return results

    async def _conversation(
        self, request: LLMRequest, read_back: list[bool] | None = None
    ) -> list[Message]:
        """The conversation up to this request; `read_back`, if given, gets True appended when
        it had to be read back from the workflow (it was not all held here)."""
        info = activity.info()
        key = self._key(request)
        length = request.history_length
        delta = self._delta(request)
        messages = [] if length == 0 else self.cache.prefix(key, length)
        if messages is not None and delta is None:
            self.cache.count_as_miss()  # the prefix is here, a message it refers to is not
        if messages is None or delta is None:
            # Not all held here: the workflow has every message, recorded or not.
            total = length + len(request.new_messages) + len(request.recorded)
            messages = await _fetch_transcript(info.workflow_id or "", info.workflow_run_id, total)
            if read_back is not None:
                read_back.append(True)
        else:
            messages.extend(delta)
        self.cache.store(key, messages)
        return messages

    def _key(self, request: LLMRequest) -> str:
        info = activity.info()
        return request.conversation_id or f"{info.workflow_id}/{info.workflow_run_id}"

    def _delta(self, request: LLMRequest) -> list[Message] | None:
        """The new messages in order, the referenced ones from the cache; None if one of them
        is not held here (or not the same)."""
        if not request.recorded:
            return list(request.new_messages)
        by_position = {ref.position: ref for ref in request.recorded}
        fresh = iter(request.new_messages)
        delta: list[Message] = []
        for position in range(len(request.new_messages) + len(request.recorded)):
            ref = by_position.get(position)
            if ref is None:
                delta.append(next(fresh))
                continue
            message = self.cache.recall(ref.key)
            if message is None or message_checksum(message) != ref.checksum:
                return None
            delta.append(message)
        return delta


async def _fetch_transcript(workflow_id: str, run_id: str | None, length: int) -> list[Message]:
    """Ask the workflow for messages [0, length): after a worker restart, on another worker, or
    after continue-as-new. Queries are not recorded, so this adds nothing to history."""
    messages = await read_transcript(
        activity.client(), workflow_id, 0, length, run_id=run_id, replay_closed_runs=False
    )
    if len(messages) != length:
        raise RuntimeError(
            f"workflow {workflow_id} gave {len(messages)} of the {length} messages asked for"
        )
    return messages


async def heartbeating(call: Coroutine[Any, Any, T]) -> T:
    """Await the provider (or a tool) while heartbeating, so a cancelled workflow (delivered
    with the heartbeat's answer) cancels the call, and a dead worker is noticed quickly.
    Local activities have no heartbeat: they just await the call."""
    info = activity.info()
    if info.is_local:
        return await call
    timeout = info.heartbeat_timeout
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
    def __init__(self, tools: ToolRegistry, cache: TranscriptCache | None = None) -> None:
        self.tools = tools
        # Shared with the LLM activities of the same worker: the next LLM request refers to
        # the results kept here instead of carrying them.
        self.cache = cache if cache is not None else TranscriptCache()

    @activity.defn(name="run_tool")
    async def run_tool(self, request: ToolRequest) -> ToolResult:
        info = activity.info()
        context = ToolContext(
            workflow_id=info.workflow_id or "", idempotency_key=request.idempotency_key
        )
        result = await heartbeating(self.tools.execute(request.call, context))
        self.cache.remember(tool_result_key(request.idempotency_key), tool_message(result))
        return result
