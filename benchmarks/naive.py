"""The naive design, as popular Temporal agent frameworks build it, to measure against.

Its LLM activity takes the whole transcript as input, so every model call records the
conversation so far in history again (O(steps^2) bytes), and every tool is a regular activity.
Everything else (provider, tools, timeouts, retry policies, worker settings) is agentic-loop's,
so the difference measured is the design and nothing else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity, workflow
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from agentic_loop.activities import ToolActivities, completion_request, heartbeating
    from agentic_loop.llm.base import LLMProvider
    from agentic_loop.llm.errors import ProviderError, raise_as_activity_error
    from agentic_loop.tools import ToolRegistry
    from agentic_loop.types import (
        AgentInput,
        AgentResult,
        AgentStatus,
        LLMTurn,
        Message,
        ToolRequest,
        ToolResult,
        Usage,
    )
    from agentic_loop.workflow.options import llm_options, tool_options
    from agentic_loop.workflow.policies import (
        DEFAULT_SYSTEM_PROMPT,
        RESULT_TRANSCRIPT_CHARS,
        newest_that_fit,
        tool_summary,
    )

NAIVE_WORKFLOW_NAME = "NaiveAgentWorkflow"


@dataclass
class NaiveLLMRequest:
    """The whole conversation so far: what makes this design's history quadratic."""

    messages: list[Message] = field(default_factory=list)
    model: str | None = None
    tools: list[str] | None = None


class NaiveLLMActivities:
    def __init__(self, provider: LLMProvider, tools: ToolRegistry) -> None:
        self.provider = provider
        self.tools = tools

    @activity.defn(name="naive_call_llm")
    async def call_llm(self, request: NaiveLLMRequest) -> LLMTurn:
        completion = completion_request(
            self.provider,
            self.tools,
            request.messages,
            tools_offered=request.tools,
            model=request.model,
        )
        try:
            # agentic-loop's own heartbeating wrapper, so both designs pay for the same.
            return await heartbeating(self.provider.complete(completion))
        except ProviderError as e:
            raise_as_activity_error(e)


@workflow.defn(name=NAIVE_WORKFLOW_NAME)
class NaiveAgentWorkflow:
    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        transcript = [
            Message(role="system", content=input.system_prompt or DEFAULT_SYSTEM_PROMPT),
            Message(role="user", content=input.goal),
        ]
        usage = Usage()
        tool_calls = 0
        for turn_number in range(1, input.max_turns + 1):
            turn = await workflow.execute_activity_method(
                NaiveLLMActivities.call_llm,
                NaiveLLMRequest(messages=transcript, model=input.model, tools=input.tools),
                **llm_options(input).regular(),
                summary=f"LLM turn {turn_number}" + (f" ({input.model})" if input.model else ""),
            )
            usage = usage + turn.usage
            transcript.append(
                Message(role="assistant", content=turn.content, tool_calls=turn.tool_calls)
            )
            if not turn.tool_calls:
                return _result(
                    AgentStatus.COMPLETED, turn.content, turn_number, tool_calls, usage, transcript
                )
            tool_calls += len(turn.tool_calls)
            results: list[ToolResult] = await asyncio.gather(
                *(
                    workflow.execute_activity_method(
                        ToolActivities.run_tool,
                        ToolRequest(
                            call=call,
                            idempotency_key=f"{workflow.info().workflow_id}/{turn_number}/{call.id}",
                        ),
                        # As AgentWorkflow's regular tool activities (its run_tool heartbeats).
                        **tool_options(input).regular(),
                        summary=tool_summary(call),
                    )
                    for call in turn.tool_calls
                )
            )
            transcript.extend(
                Message(
                    role="tool",
                    content=r.content,
                    tool_call_id=r.call_id,
                    name=r.name,
                    is_error=r.is_error,
                )
                for r in results
            )
        return _result(AgentStatus.MAX_TURNS, "", input.max_turns, tool_calls, usage, transcript)


def _result(
    status: AgentStatus,
    answer: str,
    turns: int,
    tool_calls: int,
    usage: Usage,
    transcript: list[Message],
) -> AgentResult:
    # The same result as AgentWorkflow's, transcript tail included, so both histories end alike.
    kept = newest_that_fit(transcript, RESULT_TRANSCRIPT_CHARS)
    return AgentResult(
        answer=answer,
        status=status,
        workflow_id=workflow.info().workflow_id,
        turns=turns,
        tool_calls=tool_calls,
        usage=usage,
        transcript_length=len(transcript),
        transcript=kept,
        transcript_start=len(transcript) - len(kept),
    )


def build_naive_worker(
    like: Worker, *, task_queue: str, provider: LLMProvider, tools: ToolRegistry
) -> Worker:
    """A worker for the naive design with exactly the settings of `like` (agentic-loop's),
    its workflow runner included. That runner passes `agentic_loop.types` and
    `agentic_loop.workflow.policies` through the sandbox; this module already imports everything it
    takes from agentic_loop under `imports_passed_through()`, as Temporal's samples do, so the
    passthrough list changes nothing for it: either runner executes the same two modules
    (`benchmarks`, `benchmarks.naive`) per new run (docs/performance.md)."""
    config: dict[str, Any] = {**like.config()}
    return Worker(
        **{
            **config,
            "task_queue": task_queue,
            "workflows": [NaiveAgentWorkflow],
            "activities": [
                NaiveLLMActivities(provider, tools).call_llm,
                ToolActivities(tools).run_tool,
            ],
        }
    )
