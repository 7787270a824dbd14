"""Seeded random conversations for the load test and the soak: each is a script for the fake
LLM (with injected faults and a tool error it then corrects) and the transcript and answer it
must produce, so a run can be checked message by message."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

_OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
# Each one a different refusal of the calculator; the next turn corrects it.
_BAD_EXPRESSIONS = ["{a} {op} {b} / 0", "__import__('os')", "{a} {op} ({b}"]
# Retryable failures the LLM activity must ride out under the default retry policy.
_LLM_FAULTS: list[dict[str, Any]] = [
    {"status": 429, "times": 1, "retry_after": 0.2, "message": "rate limited (scripted)"},
    {"status": 503, "times": 2, "message": "overloaded (scripted)"},
    {"status": 500, "times": 1, "message": "server error (scripted)"},
    {"timeout": True, "times": 1, "message": "no answer (scripted)"},
]


@dataclass
class Conversation:
    name: str
    goal: str
    script: dict[str, Any]
    answer: str
    # What the transcript must hold after the system prompt and the goal.
    transcript: list[tuple[str, str, bool]] = field(default_factory=list)
    turns: int = 0
    tool_calls: int = 0
    # Attempts of `call_llm` that the script makes fail.
    failed_attempts: int = 0


class _Builder:
    def __init__(self, rng: random.Random, fault_rate: float) -> None:
        self.rng = rng
        self.fault_rate = fault_rate
        self.turns: list[dict[str, Any]] = []
        self.transcript: list[tuple[str, str, bool]] = []
        self.tool_calls = 0
        self.failed_attempts = 0
        self.expect: dict[str, Any] | None = None

    def _turn(self, **body: Any) -> dict[str, Any]:
        turn: dict[str, Any] = dict(body)
        if self.expect is not None:
            turn["expect"] = self.expect
        if self.rng.random() < self.fault_rate:
            fault = dict(self.rng.choice(_LLM_FAULTS))
            turn["faults"] = [fault]
            self.failed_attempts += fault["times"]
        self.turns.append(turn)
        return turn

    def call(self, name: str, result: str, *, is_error: bool = False, **arguments: Any) -> None:
        """One turn calling one tool, and the result it must get."""
        self._turn(tool_calls=[{"name": name, "arguments": arguments}])
        self.transcript += [("assistant", "", False), ("tool", result, is_error)]
        self.tool_calls += 1
        self.expect = {"role": "tool", "contains": result, "is_error": is_error}

    def call_many(self, calls: list[tuple[str, str, dict[str, Any]]]) -> None:
        self._turn(tool_calls=[{"name": n, "arguments": a} for n, _, a in calls])
        self.transcript.append(("assistant", "", False))
        self.transcript += [("tool", result, False) for _, result, _ in calls]
        self.tool_calls += len(calls)
        self.expect = {"role": "tool", "contains": calls[-1][1], "is_error": False}

    def answer(self, content: str) -> None:
        self._turn(content=content)
        self.transcript.append(("assistant", content, False))


def random_conversation(
    rng: random.Random,
    name: str,
    *,
    fault_rate: float = 0.25,
    tool_error_rate: float = 0.3,
    slow_step_seconds: tuple[float, float] | None = None,
    ledger_hold_seconds: float | None = None,
) -> Conversation:
    """Arithmetic in one or two steps, perhaps a refused call first; in the soak also a slow
    step and a ledger write (deduplicated, and naive) whose effects can be counted."""
    b = _Builder(rng, fault_rate)
    x, y = rng.randint(2, 999), rng.randint(2, 999)
    op = rng.choice(list(_OPERATORS))
    value = _OPERATORS[op](x, y)
    if rng.random() < tool_error_rate:
        bad = rng.choice(_BAD_EXPRESSIONS).format(a=x, op=op, b=y)
        # The refusal's wording is the calculator's; the script only checks it was refused.
        b._turn(tool_calls=[{"name": "calculator", "arguments": {"expression": bad}}])
        b.transcript += [("assistant", "", False), ("tool", "", True)]
        b.tool_calls += 1
        b.expect = {"role": "tool", "is_error": True}
    b.call("calculator", str(value), expression=f"{x} {op} {y}")
    if rng.random() < 0.5:
        z = rng.randint(2, 99)
        op2 = rng.choice(list(_OPERATORS))
        expression = f"{value} {op2} {z}" if value >= 0 else f"({value}) {op2} {z}"
        value = _OPERATORS[op2](value, z)
        b.call("calculator", str(value), expression=expression)
    if slow_step_seconds is not None:
        seconds = round(rng.uniform(*slow_step_seconds), 2)
        b.call("slow_step", "slow: done", label="slow", seconds=seconds)
    if ledger_hold_seconds is not None:
        entry = f"{name} = {value}"
        hold = round(rng.uniform(0, ledger_hold_seconds), 2)
        b.call_many(
            [
                ("ledger_write", f"recorded: {entry}", {"entry": entry, "hold": hold}),
                ("naive_write", f"recorded: {entry}", {"entry": entry, "hold": hold}),
            ]
        )
    answer = f"{name}: the result is {value}."
    b.answer(answer)
    return Conversation(
        name=name,
        goal=f"{name}: compute {x} {op} {y} and go on from there",
        script={"turns": b.turns},
        answer=answer,
        transcript=b.transcript,
        turns=len(b.turns),
        tool_calls=b.tool_calls,
        failed_attempts=b.failed_attempts,
    )


def transcript_matches(conversation: Conversation, messages: list[Any]) -> bool:
    """The run's transcript (Message objects) is the one the script implies: system prompt,
    goal, then every turn and tool result in order, refusals flagged as errors."""
    if len(messages) != 2 + len(conversation.transcript):
        return False
    if messages[1].role != "user" or messages[1].content != conversation.goal:
        return False
    for message, (role, content, is_error) in zip(
        messages[2:], conversation.transcript, strict=True
    ):
        if message.role != role or message.is_error != is_error:
            return False
        # A refusal's wording belongs to the calculator; everything else must match exactly.
        if not (role == "tool" and is_error) and message.content != content:
            return False
    return True
