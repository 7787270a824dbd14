"""Metrics, spans and log lines of the agent loop, from interceptors.

The workflow and the activities stay free of telemetry: this worker interceptor wraps them.
Metrics go through the SDK runtime's meter (`activity.metric_meter()`, and the replay-safe
`workflow.metric_meter()`), so they reach whatever the runtime exports (Prometheus here) and
cost nothing when it exports nothing. Spans are children of the SDK's TracingInterceptor
spans. Log lines of workflow code go through `workflow.logger`, which is silent on replay.

Nothing here records the conversation: no goal, message, tool argument or tool result goes
into a metric, span or log line, because those leave the encrypted history for systems with
weaker protection. Only names, counts, ids and timings do.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

import temporalio.client
from temporalio import activity, workflow
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from agentic_loop.activities import inline_tool_runner
from agentic_loop.types import AgentResult, LLMRequest, LLMTurn, ToolRequest, ToolResult

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

T = TypeVar("T")

LLM_ACTIVITY = "call_llm"
TOOL_ACTIVITY = "run_tool"

LLM_CALLS = "agentic_loop_llm_calls"
LLM_TOKENS = "agentic_loop_llm_tokens"
LLM_COST = "agentic_loop_llm_cost_microdollars"
TOOL_CALLS = "agentic_loop_tool_calls"
RETRIES = "agentic_loop_retries"
STEP_LATENCY = "agentic_loop_step_latency"
AGENT_RUNS = "agentic_loop_agent_runs"
AGENT_TURNS = "agentic_loop_agent_turns"


class AgentInterceptor(temporalio.client.Interceptor, Interceptor):
    """Counts, times and traces every LLM call and tool call, and each agent run's end.

    Pass it to `Client.connect(interceptors=...)` after the TracingInterceptor (when there is
    one): workers of that client apply it inside the SDK's activity span. It changes no
    client call.
    """

    def __init__(self, tracer: Tracer | None = None) -> None:
        self.tracer = tracer

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next, self.tracer)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _WorkflowInbound


def error_type(error: BaseException) -> str:
    """The name Temporal files a failure under: an ApplicationError's type, else the class."""
    if isinstance(error, ApplicationError) and error.type:
        return error.type
    return type(error).__name__


def will_retry(error: BaseException, info: activity.Info) -> bool:
    """Whether Temporal schedules another attempt after this one failed with `error`."""
    if isinstance(error, asyncio.CancelledError):
        return False
    if isinstance(error, ApplicationError) and error.non_retryable:
        return False
    policy = info.retry_policy
    if policy is None:
        return True
    if policy.maximum_attempts and info.attempt >= policy.maximum_attempts:
        return False
    return error_type(error) not in (policy.non_retryable_error_types or ())


def is_payload(value: object, cls: type[T]) -> TypeGuard[T]:
    """isinstance for our payload types, across the workflow sandbox, which may hold its own
    copy of agentic_loop.types (then the classes differ, the shapes do not)."""
    kind = type(value)
    return kind.__name__ == cls.__name__ and kind.__module__ == cls.__module__


def step_of_tool(request: ToolRequest) -> int | None:
    """The LLM turn a tool call belongs to, from its idempotency key (workflow/turn/call)."""
    parts = request.idempotency_key.rsplit("/", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


class _ActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tracer: Tracer | None) -> None:
        super().__init__(next)
        self.tracer = tracer

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        kind = activity.info().activity_type
        argument = input.args[0] if input.args else None
        if kind == LLM_ACTIVITY and is_payload(argument, LLMRequest):
            return await self._call_llm(input, argument)
        if kind == TOOL_ACTIVITY and is_payload(argument, ToolRequest):
            return await self._run_tool(input, argument)
        return await super().execute_activity(input)

    async def _call_llm(self, input: ExecuteActivityInput, request: LLMRequest) -> Any:
        info = activity.info()
        meter = activity.metric_meter()
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "agentic_loop.step": request.turn,
            "temporal.activity.attempt": info.attempt,
        }
        if request.model:
            attributes["gen_ai.request.model"] = request.model
        started = time.monotonic()
        with self._span("llm.call", attributes) as span:
            # Inline tool calls run inside this attempt: each gets its span (a child of this
            # one), its count and its log line, as a run_tool attempt would.
            token = inline_tool_runner.set(self._inline_tool)
            try:
                result = await super().execute_activity(input)
            except BaseException as e:
                model = request.model or "unknown"
                _count(meter, LLM_CALLS, "LLM calls, one per attempt", model=model, outcome="error")
                self._failed(meter, span, e, info, "llm", started, step=request.turn)
                raise
            finally:
                inline_tool_runner.reset(token)
            _observe_latency(meter, "llm", started)
            if is_payload(result, LLMTurn):
                _record_turn(meter, span, result, request, info.attempt)
            return result

    async def _run_tool(self, input: ExecuteActivityInput, request: ToolRequest) -> Any:
        execute = super().execute_activity
        return await self._tool_call(request, lambda: execute(input))

    async def _inline_tool(
        self, request: ToolRequest, run: Callable[[], Awaitable[ToolResult]]
    ) -> ToolResult:
        result: ToolResult = await self._tool_call(request, run, inline=True)
        return result

    async def _tool_call(
        self, request: ToolRequest, run: Callable[[], Awaitable[Any]], *, inline: bool = False
    ) -> Any:
        info = activity.info()
        meter = activity.metric_meter()
        step = step_of_tool(request)
        attributes: dict[str, Any] = {
            "gen_ai.tool.name": request.call.name,
            "gen_ai.tool.call.id": request.call.id,
            "temporal.activity.attempt": info.attempt,
            "agentic_loop.tool.inline": inline,
        }
        if step is not None:
            attributes["agentic_loop.step"] = step
        started = time.monotonic()
        with self._span("tool.call", attributes) as span:
            try:
                result = await run()
            except BaseException as e:
                _count(meter, TOOL_CALLS, _TOOL_HELP, tool=request.call.name, outcome="error")
                if inline:
                    # Not retried as part of this attempt: the workflow runs the call as its
                    # own activity instead (LLMActivities._inline_results).
                    _observe_latency(meter, "tool", started)
                    if span is not None:
                        _mark_failed(span, error_type(e))
                else:
                    self._failed(meter, span, e, info, "tool", started, step=step)
                raise
            _observe_latency(meter, "tool", started)
            outcome = "refused" if is_payload(result, ToolResult) and result.is_error else "ok"
            _count(meter, TOOL_CALLS, _TOOL_HELP, tool=request.call.name, outcome=outcome)
            if span is not None:
                span.set_attribute("agentic_loop.tool.outcome", outcome)
            activity.logger.info(
                "tool call %s: %s%s",
                request.call.name,
                outcome,
                " (inline, in the LLM activity)" if inline else "",
                extra={
                    "step": step,
                    "tool": request.call.name,
                    "outcome": outcome,
                    "inline": inline,
                },
            )
            return result

    def _failed(
        self,
        meter: MetricMeter,
        span: Span | None,
        error: BaseException,
        info: activity.Info,
        kind: str,
        started: float,
        *,
        step: int | None,
    ) -> None:
        _observe_latency(meter, kind, started)
        kind_of_error = error_type(error)
        retry = will_retry(error, info)
        if retry:
            _count(
                meter, RETRIES, "failed attempts that Temporal retries", error_type=kind_of_error
            )
        if span is not None:
            _mark_failed(span, kind_of_error)
            span.set_attribute("agentic_loop.will_retry", retry)
        activity.logger.warning(
            "%s attempt %d failed (%s)%s",
            info.activity_type,
            info.attempt,
            kind_of_error,
            "; Temporal retries it" if retry else "",
            extra={"step": step, "error_type": kind_of_error, "will_retry": retry},
        )

    @contextlib.contextmanager
    def _span(self, name: str, attributes: dict[str, Any]) -> Iterator[Span | None]:
        if self.tracer is None:
            yield None
            return
        # Exceptions are recorded by _failed, which knows whether Temporal retries them.
        with self.tracer.start_as_current_span(
            name, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            yield span


_TOOL_HELP = "tool calls, one per attempt, by tool and outcome (ok, refused, error)"


def _mark_failed(span: Span, kind_of_error: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", kind_of_error)
    span.set_status(Status(StatusCode.ERROR, kind_of_error))


def _record_turn(
    meter: MetricMeter, span: Span | None, turn: LLMTurn, request: LLMRequest, attempt: int
) -> None:
    model = turn.model or request.model or "unknown"
    _count(meter, LLM_CALLS, "LLM calls, one per attempt", model=model, outcome="ok")
    tokens = meter.create_counter(LLM_TOKENS, "tokens the LLM billed", "tokens")
    tokens.add(turn.usage.prompt_tokens, {"model": model, "kind": "prompt"})
    tokens.add(turn.usage.completion_tokens, {"model": model, "kind": "completion"})
    # Counters count whole numbers: dollars are counted in millionths.
    cost = meter.create_counter(LLM_COST, "what the LLM billed, in millionths of a US dollar")
    cost.add(round(turn.cost_usd * 1_000_000), {"model": model})
    if span is not None:
        span.set_attribute("gen_ai.response.model", model)
        span.set_attribute("gen_ai.response.finish_reasons", [turn.finish_reason])
        span.set_attribute("gen_ai.usage.input_tokens", turn.usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", turn.usage.completion_tokens)
        span.set_attribute("agentic_loop.tool_calls", len(turn.tool_calls))
        span.set_attribute("agentic_loop.cost_usd", turn.cost_usd)
    activity.logger.info(
        "LLM turn %d answered: %s, %d tool calls, %d tokens (model %s, attempt %d)",
        request.turn,
        turn.finish_reason,
        len(turn.tool_calls),
        turn.usage.total_tokens,
        model,
        attempt,
        extra={"step": request.turn, "model": model, "tokens": turn.usage.total_tokens},
    )


def _count(meter: MetricMeter, name: str, description: str, **attributes: str) -> None:
    meter.create_counter(name, description).add(1, attributes)


def _observe_latency(meter: MetricMeter, kind: str, started: float) -> None:
    histogram = meter.create_histogram_timedelta(
        STEP_LATENCY, "time of one LLM call or tool call attempt", "ms"
    )
    histogram.record(timedelta(seconds=time.monotonic() - started), {"kind": kind})


class _WorkflowInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        workflow.logger.info("agent run started", extra={"step": 0})
        try:
            result = await super().execute_workflow(input)
        except Exception as e:
            # Continue-as-new is a BaseException, so it passes uncounted: the run goes on.
            _count(workflow.metric_meter(), AGENT_RUNS, _RUNS_HELP, status="failed")
            workflow.logger.warning("agent run failed (%s)", error_type(e))
            raise
        if is_payload(result, AgentResult):
            meter = workflow.metric_meter()
            _count(meter, AGENT_RUNS, _RUNS_HELP, status=result.status.value)
            meter.create_histogram(AGENT_TURNS, "LLM turns per agent run", "turns").record(
                result.turns, {"status": result.status.value}
            )
            workflow.logger.info(
                "agent run finished: %s after %d LLM turns and %d tool calls",
                result.status.value,
                result.turns,
                result.tool_calls,
                extra={"step": result.turns, "status": result.status.value},
            )
        return result


_RUNS_HELP = "agent runs that ended, by status"


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        super().__init__(next)
        self.step = 0

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        self._log_step(input.activity, input.args)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        self._log_step(input.activity, input.args)
        return super().start_local_activity(input)

    def _log_step(self, name: str, args: Any) -> None:
        argument: Any = args[0] if args else None
        if is_payload(argument, LLMRequest):
            self.step = argument.turn
            workflow.logger.info("step %d: calling the LLM", self.step, extra={"step": self.step})
        elif is_payload(argument, ToolRequest):
            workflow.logger.info(
                "step %d: running %s",
                self.step,
                argument.call.name,
                extra={"step": self.step, "tool": argument.call.name},
            )
        else:
            workflow.logger.info("step %d: %s", self.step, name, extra={"step": self.step})
