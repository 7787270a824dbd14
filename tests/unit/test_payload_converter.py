"""The payload converter: the SDK's default one with each dataclass's field types resolved once
(agentic_loop/temporal/payload_converter.py)."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter, DefaultPayloadConverter

from agentic_loop.config import Settings
from agentic_loop.temporal import payload_converter
from agentic_loop.temporal.payload_converter import CachedHintsPayloadConverter
from agentic_loop.temporal.plugin import data_converter
from agentic_loop.types import AgentInput, LLMRequest, LLMTurn, Message, ToolRequest, ToolResult

HISTORIES = Path(__file__).resolve().parents[2] / "fixtures" / "histories"

# What each recorded payload of an AgentWorkflow history is, by where it is.
ACTIVITY_TYPES = {"call_llm": (LLMRequest, LLMTurn), "run_tool": (ToolRequest, ToolResult)}


def _recorded_payloads() -> list[tuple[str, type, Payload]]:
    """Every workflow input and activity input and result of the recorded histories, with
    the type the workflow reads it as."""
    found: list[tuple[str, type, Payload]] = []
    for path in sorted(HISTORIES.glob("*.json")):
        if path.name == "index.json":
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        history = WorkflowHistory.from_json("wf", data)
        scheduled: dict[int, str] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                attributes = event.workflow_execution_started_event_attributes
                if attributes.workflow_type.name == "AgentWorkflow":
                    found += [(path.name, AgentInput, p) for p in attributes.input.payloads]
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                name = attributes.activity_type.name
                if name in ACTIVITY_TYPES:
                    scheduled[event.event_id] = name
                    argument = ACTIVITY_TYPES[name][0]
                    found += [(path.name, argument, p) for p in attributes.input.payloads]
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attributes = event.activity_task_completed_event_attributes
                name = scheduled.get(attributes.scheduled_event_id, "")
                if name in ACTIVITY_TYPES:
                    result = ACTIVITY_TYPES[name][1]
                    found += [(path.name, result, p) for p in attributes.result.payloads]
    return found


def test_every_recorded_payload_decodes_and_encodes_exactly_as_the_sdks_converter_does() -> None:
    """Each workflow input, LLM request and turn, tool request and result in the recorded
    histories becomes the same value under both converters, and that value encodes to the
    same bytes: recorded histories read as before, and new payloads are what they were."""
    ours, sdks = CachedHintsPayloadConverter(), DefaultPayloadConverter()
    payloads = _recorded_payloads()
    kinds = {kind for _, kind, _ in payloads}
    assert kinds == {AgentInput, LLMRequest, LLMTurn, ToolRequest, ToolResult}, kinds
    for name, kind, payload in payloads:
        if payload.metadata.get("encoding") != b"json/plain":
            continue  # sealed (encrypted) or stored outside history: not this converter's
        mine = ours.from_payload(payload, kind)
        theirs = sdks.from_payload(payload, kind)
        assert mine == theirs, name
        assert type(mine) is kind
        assert ours.to_payload(mine) == sdks.to_payload(theirs), name


@dataclasses.dataclass(frozen=True)
class _Inner:
    label: str
    weight: float = 1.0


@dataclasses.dataclass
class _Outer:
    inner: _Inner
    extra: list[_Inner]
    maybe: _Inner | None = None
    counted: int = dataclasses.field(default=0, init=False)


def test_dataclasses_are_rebuilt_as_the_sdk_rebuilds_them() -> None:
    """Nested, optional and init=False fields come back; unknown fields are ignored; a
    missing required field or a wrong type fails, as with the SDK's converter."""
    ours, sdks = CachedHintsPayloadConverter(), DefaultPayloadConverter()
    value = _Outer(_Inner("a"), [_Inner("b", 2.0)], maybe=_Inner("c"))
    value.counted = 3
    payload = sdks.to_payload(value)
    assert payload is not None
    assert ours.from_payload(payload, _Outer) == value
    assert ours.from_payload(payload, _Outer).counted == 3

    def raw(data: dict[str, Any]) -> Payload:
        return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(data).encode())

    loose = raw({"inner": {"label": "x", "unknown": 1}, "extra": [], "later": True})
    assert ours.from_payload(loose, _Outer) == sdks.from_payload(loose, _Outer)
    for bad in (raw({"extra": []}), raw({"inner": {"label": "x"}, "extra": 5})):
        with pytest.raises(TypeError):
            sdks.from_payload(bad, _Outer)
        with pytest.raises(TypeError):
            ours.from_payload(bad, _Outer)


def test_a_classes_field_types_are_resolved_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Converting many values of one dataclass resolves its annotations once (the SDK's
    converter resolves them for every value), and the cache forgets nothing it needs."""
    calls: list[type] = []
    real = typing.get_type_hints

    def counting(cls: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(cls)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(payload_converter.typing, "get_type_hints", counting)

    @dataclasses.dataclass
    class Fresh:  # a class the cache has not seen
        text: str
        parts: list[Message]

    converter = CachedHintsPayloadConverter()
    payload = converter.to_payload(Fresh("t", [Message(role="user", content="hi")]))
    assert payload is not None
    for _ in range(50):
        decoded = converter.from_payload(payload, Fresh)
    assert decoded == Fresh("t", [Message(role="user", content="hi")])
    assert calls.count(Fresh) == 1
    assert calls.count(Message) <= 1  # once ever, perhaps before this test


def test_the_plugins_converter_uses_it_unless_the_user_chose_a_converter_of_their_own() -> None:
    """data_converter() puts the cached-hints converter in place of the SDK's default, and
    leaves a payload converter the user chose as it is."""
    assert data_converter(Settings()).payload_converter_class is CachedHintsPayloadConverter

    class Theirs(DefaultPayloadConverter):
        pass

    base = dataclasses.replace(DataConverter.default, payload_converter_class=Theirs)
    assert data_converter(Settings(), base).payload_converter_class is Theirs
