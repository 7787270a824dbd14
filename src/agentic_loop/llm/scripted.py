"""ScriptedLLM: plays a script of turns, for tests.

It is stateless on purpose: the turn it plays is the number of assistant messages already in
the conversation, and an injected fault is chosen by the activity's attempt number, or for an
outage by the server time since the first attempt. So it gives the same answers across retries,
worker restarts and separate processes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.errors import ProviderError, provider_error
from agentic_loop.types import LLMTurn, Message, ToolCall, Usage


class ScriptError(ValueError):
    """The script file itself is malformed."""


OUTAGE_STATUS = 503


@dataclass(frozen=True)
class Fault:
    """Fail `times` attempts: with an HTTP status, a timeout, or a delay before answering.

    With `outage_seconds` it is an outage instead: every attempt scheduled less than that many
    seconds after the first one (`CompletionRequest.elapsed_seconds`, server time) fails with
    `status`, 503 unless given, however many attempts that takes; `times` is then ignored.
    """

    times: int = 1
    status: int | None = None
    code: str | None = None
    message: str = "injected fault"
    retry_after: float | None = None
    timeout: bool = False
    # Seconds to sleep before answering (past the activity timeout, it becomes a timeout).
    delay: float = 0.0
    outage_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.outage_seconds is not None and self.status is None and not self.timeout:
            # A provider that is down answers 503, which the error taxonomy retries.
            object.__setattr__(self, "status", OUTAGE_STATUS)


@dataclass(frozen=True)
class Expect:
    """What the last message of the conversation must look like when this turn is played."""

    role: str | None = None
    contains: str | None = None
    is_error: bool | None = None

    def mismatch(self, message: Message) -> str | None:
        if self.role is not None and message.role != self.role:
            return f"expected role {self.role!r}"
        if self.contains is not None and self.contains not in message.content:
            return f"expected it to contain {self.contains!r}"
        if self.is_error is not None and message.is_error != self.is_error:
            return f"expected is_error={self.is_error}"
        return None


@dataclass(frozen=True)
class ScriptedTurn:
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    refusal: str | None = None
    usage: Usage | None = None
    expect: Expect | None = None
    faults: list[Fault] = field(default_factory=list)

    def fault_for(self, attempt: int, elapsed_seconds: float = 0.0) -> Fault | None:
        """The fault this attempt meets: an outage still under way, else the counted fault
        whose share of attempts `attempt` falls in."""
        for fault in self.faults:
            if fault.outage_seconds is not None and elapsed_seconds < fault.outage_seconds:
                return fault
        seen = 0
        for fault in self.faults:
            if fault.outage_seconds is not None:
                continue
            seen += fault.times
            if attempt <= seen:
                return fault
        return None


def _parse_tool_call(raw: dict[str, Any], turn: int, index: int) -> ToolCall:
    args = raw.get("arguments", {})
    # A string is sent as-is, so a script can feed the loop malformed JSON.
    text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return ToolCall(id=raw.get("id") or f"call_{turn}_{index}", name=raw["name"], arguments=text)


def _parse_turn(raw: dict[str, Any], turn: int) -> ScriptedTurn:
    try:
        usage = raw.get("usage")
        return ScriptedTurn(
            content=raw.get("content", ""),
            tool_calls=[
                _parse_tool_call(c, turn, i) for i, c in enumerate(raw.get("tool_calls", []), 1)
            ],
            finish_reason=raw.get("finish_reason"),
            refusal=raw.get("refusal"),
            usage=Usage(**usage) if usage else None,
            expect=Expect(**raw["expect"]) if "expect" in raw else None,
            faults=[Fault(**f) for f in raw.get("faults", [])],
        )
    except (KeyError, TypeError) as e:
        raise ScriptError(f"turn {turn} of the script is malformed: {e}") from e


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


class ScriptedLLM:
    """Answers from a fixed script; raises, naming the message, when the conversation departs
    from it. Tests assert on `requests`, the conversations it was asked to continue."""

    __test__ = False

    def __init__(self, turns: list[ScriptedTurn], *, name: str = "script") -> None:
        self.turns = turns
        self.script_name = name
        self.requests: list[CompletionRequest] = []

    @classmethod
    def from_data(cls, data: dict[str, Any], *, name: str = "script") -> ScriptedLLM:
        raw_turns = data.get("turns")
        if not isinstance(raw_turns, list) or not raw_turns:
            raise ScriptError(f"script {name!r} needs a non-empty list 'turns'")
        return cls([_parse_turn(t, i) for i, t in enumerate(raw_turns, 1)], name=name)

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedLLM:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ScriptError(f"cannot read script {path}: {e.strerror}") from e
        except json.JSONDecodeError as e:
            raise ScriptError(f"script {path} is not valid JSON: {e}") from e
        return cls.from_data(data, name=path.name)

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def default_model(self) -> str:
        return f"script:{self.script_name}"

    def _departure(self, message: str) -> ProviderError:
        # Not retryable: a script that no longer matches will not match on the next attempt.
        return ProviderError(
            f"script {self.script_name!r}: {message}", retryable=False, code="script_mismatch"
        )

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        self.requests.append(request)
        index = sum(1 for m in request.messages if m.role == "assistant")
        if index >= len(self.turns):
            last = request.messages[-1] if request.messages else Message(role="none")
            raise self._departure(
                f"has {len(self.turns)} turns but was asked for turn {index + 1}; "
                f"last message: {last.role}: {last.content[:200]!r}"
            )
        turn = self.turns[index]
        if turn.expect is not None and request.messages:
            last = request.messages[-1]
            why = turn.expect.mismatch(last)
            if why:
                raise self._departure(
                    f"turn {index + 1} {why}, but the last message is "
                    f"{last.role}: {last.content[:200]!r}"
                )
        fault = turn.fault_for(request.attempt, request.elapsed_seconds)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.timeout:
                raise provider_error(None, f"{fault.message} (timeout)")
            if fault.status is not None:
                raise provider_error(
                    fault.status, fault.message, code=fault.code, retry_after=fault.retry_after
                )
        prompt = sum(_estimate_tokens(m.content) for m in request.messages)
        completion = _estimate_tokens(turn.content) + sum(
            _estimate_tokens(c.arguments) for c in turn.tool_calls
        )
        usage = turn.usage or Usage(prompt, completion, prompt + completion)
        return LLMTurn(
            content=turn.content,
            tool_calls=list(turn.tool_calls),
            finish_reason=turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop"),
            refusal=turn.refusal,
            usage=usage,
            model=request.model or self.default_model,
        )


class ScriptedModels:
    """Plays one script per model name, for agents with sub-agents: each sub-agent asks for
    its own `model` (SubAgent.model) and gets that script; any other request, the parent's,
    gets `default`. Every script keeps its own `requests`."""

    __test__ = False

    def __init__(self, default: ScriptedLLM, by_model: Mapping[str, ScriptedLLM]) -> None:
        self.default = default
        self.by_model = dict(by_model)

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def default_model(self) -> str:
        return self.default.default_model

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        script = self.by_model.get(request.model or "", self.default)
        return await script.complete(request)
