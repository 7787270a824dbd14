"""Script: a scripted conversation for ScriptedLLM, written in Python.

It means exactly what a JSON script of fixtures/scripts means, and reads and writes that
format: `Script.from_file(path).to_data()` is the file's data, unchanged. Conditions and faults
come before the turn they belong to, as a reader expects them:

    Script().calls("lookup", city="Seoul").expect(role="tool").answers("Sunny in Seoul.")
    Script().fails(429, times=2, retry_after=60).calls("lookup", city="Seoul") ...

A Script is never changed in place: each method returns a new one, so a module-level script
can be the common start of several tests.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentic_loop.llm.scripted import ScriptedLLM, ScriptError

# Where the turns go among the top-level keys when a script without them gets some.
_TURNS = "turns"
# What gave each field of the next turn, for the message of a script that ends too early.
_GIVEN_BY = {
    "expect": "expect()",
    "faults": "a fault (fails, times_out, delays, outage)",
    "usage": "uses()",
    "content": "says()",
}


class Script:
    """A conversation for the scripted model, turn by turn.

    description: what the script is for (kept in the JSON file).
    name: what the model calls itself in errors and in its model name (`script:NAME`); a
    script read from a file is named after the file, as `ScriptedLLM.from_file` names it.
    """

    def __init__(self, description: str | None = None, *, name: str = "script") -> None:
        self.name = name
        # The top-level keys in their order, `turns` standing for where the turns go.
        self._top: dict[str, Any] = {} if description is None else {"description": description}
        self._turns: tuple[dict[str, Any], ...] = ()
        # What the next turn will carry: expect, faults, usage, content.
        self._next: dict[str, Any] = {}

    # ---- reading and writing the JSON format ------------------------------------------------

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, name: str = "script") -> Script:
        """A script of JSON data (as a file holds it); ScriptError if the model could not play
        it."""
        ScriptedLLM.from_data(dict(data), name=name)  # the model's own checks, and its message
        script = cls(name=name)
        script._top = {k: (None if k == _TURNS else copy.deepcopy(v)) for k, v in data.items()}
        script._turns = tuple(copy.deepcopy(turn) for turn in data[_TURNS])
        return script

    @classmethod
    def from_file(cls, path: str | Path) -> Script:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ScriptError(f"cannot read script {path}: {e.strerror}") from e
        except json.JSONDecodeError as e:
            raise ScriptError(f"script {path} is not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise ScriptError(f"script {path} is not a JSON object with a list 'turns'")
        return cls.from_data(data, name=path.name)

    def to_data(self) -> dict[str, Any]:
        """The script as JSON data; ScriptError if it is unfinished or the model could not
        play it."""
        if self._next:
            given = " and ".join(_GIVEN_BY[key] for key in self._next)
            raise ScriptError(
                f"{given} given after the last turn: each applies to the turn after it, so "
                "end the script with that turn (answers(...) or calls(...))"
            )
        if not self._turns:
            raise ScriptError("the script has no turns: add one with answers(...) or calls(...)")
        top = self._top if _TURNS in self._top else {**self._top, _TURNS: None}
        data = {
            key: [copy.deepcopy(t) for t in self._turns] if key == _TURNS else copy.deepcopy(value)
            for key, value in top.items()
        }
        ScriptedLLM.from_data(data, name=self.name)
        return data

    def write(self, path: str | Path) -> Path:
        """Save as a JSON script (what `AGENTIC_LOOP_LLM=scripted:PATH` plays); the path."""
        path = Path(path)
        text = json.dumps(self.to_data(), ensure_ascii=False, indent=2)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    def llm(self) -> ScriptedLLM:
        """A fresh scripted model playing this script (its `requests` start empty)."""
        return ScriptedLLM.from_data(self.to_data(), name=self.name)

    # ---- what the next turn expects and meets ----------------------------------------------

    def expect(
        self,
        *,
        role: str | None = None,
        contains: str | None = None,
        is_error: bool | None = None,
    ) -> Script:
        """What the last message must look like when the next turn is played: a conversation
        that departed from the script fails the run, naming the message."""
        condition = {
            key: value
            for key, value in (("role", role), ("contains", contains), ("is_error", is_error))
            if value is not None
        }
        if not condition:
            raise ScriptError("expect() needs role, contains or is_error")
        if "expect" in self._next:
            raise ScriptError("expect() was given twice for one turn: give every condition at once")
        return self._pending(expect=condition)

    def fails(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> Script:
        """The next turn's first `times` attempts fail with HTTP `status` (and its
        `retry-after`, in seconds, which Temporal honours)."""
        fault: dict[str, Any] = {"status": status, "times": times}
        fault.update(_given(retry_after=retry_after, code=code, message=message))
        return self._fault(fault)

    def times_out(self, *, times: int = 1, message: str | None = None) -> Script:
        """The next turn's first `times` attempts fail as a request that timed out."""
        return self._fault({"timeout": True, "times": times, **_given(message=message)})

    def delays(self, seconds: float, *, times: int = 1) -> Script:
        """The next turn's first `times` attempts wait `seconds` before answering (past the
        LLM activity's timeout, an attempt times out)."""
        return self._fault({"delay": seconds, "times": times})

    def outage(
        self, seconds: float, *, status: int | None = None, message: str | None = None
    ) -> Script:
        """Every attempt of the next turn within `seconds` of its first one fails (503 unless
        `status`), however many attempts that takes."""
        return self._fault({"outage_seconds": seconds, **_given(status=status, message=message)})

    def uses(
        self, prompt_tokens: int, completion_tokens: int, total_tokens: int | None = None
    ) -> Script:
        """The token usage the next turn reports (estimated from the text unless given)."""
        total = prompt_tokens + completion_tokens if total_tokens is None else total_tokens
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": total,
        }
        return self._pending(usage=usage)

    def says(self, text: str) -> Script:
        """Text the next turn has beside its tool calls."""
        return self._pending(content=text)

    # ---- turns -----------------------------------------------------------------------------

    def calls(
        self,
        tool: str,
        arguments: Mapping[str, Any] | str | None = None,
        /,
        *,
        call_id: str | None = None,
        **keyword_arguments: Any,
    ) -> Script:
        """A turn in which the model calls `tool` with these arguments (keywords, a mapping,
        or a string sent as it is, malformed JSON included); `also_calls` adds calls to it."""
        call = _call(tool, arguments, call_id, keyword_arguments)
        return self._turn({**self._next, "tool_calls": [call]})

    def also_calls(
        self,
        tool: str,
        arguments: Mapping[str, Any] | str | None = None,
        /,
        *,
        call_id: str | None = None,
        **keyword_arguments: Any,
    ) -> Script:
        """Another call in the turn before: the calls of one turn run concurrently."""
        if not self._turns or "tool_calls" not in self._turns[-1]:
            raise ScriptError("also_calls() adds a call to a calls() turn: begin with calls()")
        if self._next:
            raise ScriptError(
                "also_calls() adds to the turn before, but conditions for the next turn were "
                "given since: put them after the last also_calls()"
            )
        last = copy.deepcopy(self._turns[-1])
        last["tool_calls"].append(_call(tool, arguments, call_id, keyword_arguments))
        script = self._copy()
        script._turns = (*self._turns[:-1], last)
        return script

    def answers(self, text: str, *, finish_reason: str | None = None) -> Script:
        """A turn in which the model answers `text` and calls no tool."""
        if "content" in self._next:
            raise ScriptError("says() and answers() both give the next turn's text: use one")
        return self._turn({**self._next, "content": text, **_given(finish_reason=finish_reason)})

    def refuses(self, reason: str) -> Script:
        """A turn in which the model refuses, as OpenAI reports a refusal."""
        return self._turn({**self._next, "refusal": reason})

    def turn(self, data: Mapping[str, Any]) -> Script:
        """A turn given as JSON data, for what the methods above do not say."""
        clash = set(self._next) & set(data)
        if clash:
            raise ScriptError(f"turn() data and the conditions before it both give {clash}")
        return self._turn({**self._next, **copy.deepcopy(dict(data))})

    # ---- plumbing --------------------------------------------------------------------------

    @property
    def turns(self) -> list[dict[str, Any]]:
        """The turns so far, as JSON data (a copy)."""
        return [copy.deepcopy(turn) for turn in self._turns]

    def __len__(self) -> int:
        return len(self._turns)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Script):
            return NotImplemented
        return (self.name, self._top, self._turns, self._next) == (
            other.name,
            other._top,
            other._turns,
            other._next,
        )

    __hash__ = None  # type: ignore[assignment]  # equal by content, which can change

    def __repr__(self) -> str:
        return f"Script(name={self.name!r}, turns={len(self._turns)})"

    def _copy(self) -> Script:
        script = Script(name=self.name)
        script._top = dict(self._top)
        script._turns = self._turns
        script._next = dict(self._next)
        return script

    def _pending(self, **fields: Any) -> Script:
        script = self._copy()
        script._next.update(fields)
        return script

    def _fault(self, fault: dict[str, Any]) -> Script:
        return self._pending(faults=[*self._next.get("faults", []), fault])

    def _turn(self, turn: dict[str, Any]) -> Script:
        script = self._copy()
        script._turns = (*self._turns, turn)
        script._next = {}
        return script


def _given(**values: Any) -> dict[str, Any]:
    """The options that were given: a JSON script leaves defaults out."""
    return {key: value for key, value in values.items() if value is not None}


def _call(
    tool: str,
    arguments: Mapping[str, Any] | str | None,
    call_id: str | None,
    keyword_arguments: dict[str, Any],
) -> dict[str, Any]:
    if isinstance(arguments, str):
        if keyword_arguments:
            raise ScriptError(
                f"the call of {tool} has arguments as a string and as keywords: use one"
            )
        args: dict[str, Any] | str = arguments
    else:
        args = {**(arguments or {}), **keyword_arguments}
    call: dict[str, Any] = {"name": tool, "arguments": args}
    if call_id is not None:
        call = {"id": call_id, **call}
    return call
