"""The benchmark's workload: every step is one calculator call with a ~1 KB result, played by
the scripted fake LLM at zero (or a fixed) latency.

The worker serves conversations of many lengths and latencies at once, so the model name, which
is workflow input, says which script to play: `bench-10-steps-0ms` is ten calculator steps and
then an answer, each LLM call answered at once.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from temporalio import activity

from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.scripted import Expect, ScriptedLLM, ScriptedTurn
from agentic_loop.tools import Tool, ToolContext, ToolRegistry, calculator, web_search
from agentic_loop.types import AgentInput, LLMTurn, Message, ToolCall

RESULT_BYTES = 1024
# Shown work after the answer: it makes the result ~1 KB, the size of a typical tool result
# (a search hit, a file excerpt), which is what makes re-recorded transcripts expensive.
_WORK_LINE = "step {:02d}: carried the digits, checked the sum against the estimate.\n"
_MODEL = re.compile(r"bench-(\d+)-steps-(\d+)ms(?:-last-(\d+)ms)?")


def _shown_work(answer: str) -> str:
    text = f"= {answer}\n"
    line = 0
    while len(text) < RESULT_BYTES:
        text += _WORK_LINE.format(line)
        line += 1
    return text[:RESULT_BYTES]


async def _calculator_with_work(args: dict[str, Any], context: ToolContext) -> str:
    return _shown_work(await calculator.TOOL.run(args, context))


# Keeps the real calculator's name, schema and evaluator, so `inline_tools=["calculator"]`
# (the shipped default; `local_tools` when inline is off) applies to it exactly as in
# production; only the result is longer.
CALCULATOR_WITH_WORK = Tool(
    name=calculator.TOOL.name,
    description=calculator.TOOL.description,
    parameters=calculator.TOOL.parameters,
    run=_calculator_with_work,
    pure=calculator.TOOL.pure,
)


def bench_registry() -> ToolRegistry:
    return ToolRegistry([CALCULATOR_WITH_WORK, web_search.TOOL])


def bench_model(steps: int, latency: float, last_latency: float | None = None) -> str:
    """The model name; `last_latency`, when given, is the final (answer) call's instead: the
    many-conversations section holds conversations open at their full length with it."""
    last = "" if last_latency is None else f"-last-{round(last_latency * 1000)}ms"
    return f"bench-{steps}-steps-{round(latency * 1000)}ms{last}"


def bench_input(
    steps: int, latency: float = 0.0, *, last_latency: float | None = None, **fields: Any
) -> AgentInput:
    """One conversation of `steps` calculator steps and a final answer."""
    return AgentInput(
        goal=f"Add 3 to each of the numbers 1 to {steps}, one at a time.",
        max_turns=steps + 1,
        model=bench_model(steps, latency, last_latency),
        tools=["calculator"],
        **fields,
    )


def calculator_script(steps: int) -> ScriptedLLM:
    turns = [
        ScriptedTurn(
            tool_calls=[
                ToolCall(
                    id=f"call_{i}",
                    name="calculator",
                    arguments=json.dumps({"expression": f"{i} + 3"}),
                )
            ],
            # From the second turn on, the model must see the previous step's result: a
            # design that loses or reorders transcript messages fails instead of looking fast.
            expect=None if i == 1 else Expect(role="tool", contains=f"= {i - 1 + 3}\n"),
        )
        for i in range(1, steps + 1)
    ]
    done = ScriptedTurn(content=f"Done: {steps} sums.", expect=Expect(role="tool"))
    return ScriptedLLM([*turns, done], name=f"calculator-{steps}")


def transcript_problem(messages: list[Message], steps: int) -> str | None:
    """What is wrong with the whole transcript of a finished `steps`-step conversation, or None
    when it holds exactly the messages the script produced, in order, none lost or repeated:
    system, goal, then per step the calculator call and its ~1 KB result, then the answer."""
    expected = 2 + 2 * steps + 1
    if len(messages) != expected:
        return f"{len(messages)} messages, expected {expected}"
    if [m.role for m in messages[:2]] != ["system", "user"]:
        return f"starts with roles {[m.role for m in messages[:2]]}, expected system, user"
    for i in range(1, steps + 1):
        call, result = messages[2 * i], messages[2 * i + 1]
        arguments = json.dumps({"expression": f"{i} + 3"})
        if call.role != "assistant" or [(c.id, c.name, c.arguments) for c in call.tool_calls] != [
            (f"call_{i}", "calculator", arguments)
        ]:
            return f"message {2 * i} is not step {i}'s calculator call: {call!r:.200}"
        if (
            result.role != "tool"
            or result.tool_call_id != f"call_{i}"
            or result.is_error
            or result.content != _shown_work(str(i + 3))
        ):
            return f"message {2 * i + 1} is not step {i}'s result: {result!r:.200}"
    last = messages[-1]
    if last.role != "assistant" or last.content != f"Done: {steps} sums." or last.tool_calls:
        return f"the last message is not the answer: {last!r:.200}"
    return None


class BenchLLM:
    """Plays `calculator_script(steps)` after `latency` seconds, both read from the model name,
    and notes when each conversation's calls arrive: the gaps are the step latencies.

    clock: what the arrival times are read from; a worker process (worker_process.py) gives
    time.monotonic, which every process of the machine shares, so the gaps of a conversation
    served by several processes can be taken. record=False keeps only the counters: 10,000
    conversations' call times would be in the RSS the many-conversations section measures.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.perf_counter, record: bool = True
    ) -> None:
        self._scripts: dict[int, ScriptedLLM] = {}
        self.calls: defaultdict[str, list[float]] = defaultdict(list)
        self._clock = clock
        self._record = record
        # Every call answered, and the conversation and time of the latest: which worker
        # process serves a conversation (the killed-worker scenario) is read from these.
        self.served = 0
        self.last_workflow = ""
        self.last_call_at = 0.0

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def default_model(self) -> str:
        return bench_model(1, 0.0)

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        workflow_id = activity.info().workflow_id or ""
        now = self._clock()
        self.served += 1
        self.last_workflow, self.last_call_at = workflow_id, now
        if self._record:
            self.calls[workflow_id].append(now)
        match = _MODEL.fullmatch(request.model or "")
        if match is None:
            raise ValueError(
                f"model {request.model!r} is not a bench model such as bench-10-steps-0ms"
            )
        steps, latency_ms = int(match[1]), int(match[2])
        script = self._scripts.get(steps)
        if script is None:
            script = self._scripts[steps] = calculator_script(steps)
        answering = sum(1 for m in request.messages if m.role == "assistant") == steps
        if match[3] is not None and answering:
            latency_ms = int(match[3])
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        turn = await script.complete(request)
        # The script keeps every request for tests to inspect; a benchmark only needs memory.
        script.requests.clear()
        return turn

    def step_latencies(self) -> list[float]:
        """Seconds between consecutive LLM calls of each conversation, since the last reset."""
        return [b - a for times in self.calls.values() for a, b in pairwise(times)]

    def reset(self) -> None:
        self.calls.clear()
