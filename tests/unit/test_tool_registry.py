"""ToolRegistry: every mistake of the LLM's becomes an error result; faults propagate."""

from __future__ import annotations

from typing import Any

import pytest

from agentic_loop.tools import Tool, ToolContext, ToolError, ToolRegistry, default_registry
from agentic_loop.types import ToolCall, ToolResult

CTX = ToolContext(workflow_id="wf-test", idempotency_key="key-1")


async def _echo(args: dict[str, Any], ctx: ToolContext) -> str:
    return f"{args['text']} x{args.get('times', 1)}"


async def _refuse(args: dict[str, Any], ctx: ToolContext) -> str:
    raise ToolError("not today")


async def _crash(args: dict[str, Any], ctx: ToolContext) -> str:
    raise RuntimeError("database is down")


ECHO = Tool(
    name="echo",
    description="Repeat text.",
    parameters={
        "type": "object",
        "properties": {"text": {"type": "string"}, "times": {"type": "integer"}},
        "required": ["text"],
        "additionalProperties": False,
    },
    run=_echo,
)
REFUSER = Tool("refuser", "Always refuses.", {"type": "object", "properties": {}}, _refuse)
CRASHER = Tool("crasher", "Always crashes.", {"type": "object", "properties": {}}, _crash)


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry([ECHO, REFUSER, CRASHER])


async def _execute(registry: ToolRegistry, name: str, arguments: str) -> ToolResult:
    return await registry.execute(ToolCall(id="call-1", name=name, arguments=arguments), CTX)


async def test_successful_call_returns_content(registry: ToolRegistry) -> None:
    """A valid call returns the tool's output as a non-error result for the same call id."""
    result = await _execute(registry, "echo", '{"text": "hi", "times": 2}')
    assert result == ToolResult(call_id="call-1", name="echo", content="hi x2", is_error=False)


async def test_unknown_tool_lists_available_tools(registry: ToolRegistry) -> None:
    """Calling a tool that does not exist is an error result naming the tools that do."""
    result = await _execute(registry, "nope", "{}")
    assert result.is_error
    assert "nope" in result.content
    for name in ("echo", "refuser", "crasher"):
        assert name in result.content


async def test_malformed_json_is_an_error_result(registry: ToolRegistry) -> None:
    """Arguments that are not valid JSON become an error result instead of raising."""
    result = await _execute(registry, "echo", '{"text": "hi"')
    assert result.is_error
    assert "not valid JSON" in result.content


@pytest.mark.parametrize("arguments", ['["hi"]', '"hi"', "42", "null"])
async def test_non_object_json_is_an_error_result(registry: ToolRegistry, arguments: str) -> None:
    """JSON that is not an object is refused with an error result."""
    result = await _execute(registry, "echo", arguments)
    assert result.is_error
    assert "JSON object" in result.content


async def test_missing_required_argument_is_an_error_result(registry: ToolRegistry) -> None:
    """Leaving out a required argument is an error result naming it."""
    result = await _execute(registry, "echo", '{"times": 2}')
    assert result.is_error
    assert "text" in result.content


async def test_empty_arguments_mean_no_arguments(registry: ToolRegistry) -> None:
    """An empty argument string is read as {}, so a missing required argument is reported."""
    result = await _execute(registry, "echo", "")
    assert result.is_error
    assert "missing required" in result.content


@pytest.mark.parametrize(
    "arguments", ['{"text": 5}', '{"text": "hi", "times": "2"}', '{"text": "hi", "times": true}']
)
async def test_wrong_argument_type_is_an_error_result(
    registry: ToolRegistry, arguments: str
) -> None:
    """An argument of the wrong JSON type, booleans for integers included, is refused."""
    result = await _execute(registry, "echo", arguments)
    assert result.is_error
    assert "must be of type" in result.content


async def test_unknown_argument_is_an_error_result(registry: ToolRegistry) -> None:
    """Extra arguments are refused when the schema forbids additional properties."""
    result = await _execute(registry, "echo", '{"text": "hi", "loud": true}')
    assert result.is_error
    assert "loud" in result.content


async def test_tool_error_becomes_an_error_result(registry: ToolRegistry) -> None:
    """A tool's ToolError reaches the LLM as an error result carrying its reason."""
    result = await _execute(registry, "refuser", "{}")
    assert result == ToolResult(
        call_id="call-1", name="refuser", content="not today", is_error=True
    )


async def test_other_exceptions_propagate(registry: ToolRegistry) -> None:
    """Infrastructure faults are raised, so Temporal retries the activity."""
    with pytest.raises(RuntimeError, match="database is down"):
        await _execute(registry, "crasher", "{}")


def test_duplicate_registration_raises() -> None:
    """Two tools with the same name cannot be registered."""
    registry = ToolRegistry([ECHO])
    with pytest.raises(ValueError, match="echo"):
        registry.register(ECHO)


def test_schemas_of_named_tools_in_openai_format(registry: ToolRegistry) -> None:
    """schemas() returns Chat Completions function tools for the named ones, skipping unknown."""
    assert registry.schemas(["echo", "missing"]) == [
        {
            "type": "function",
            "function": {
                "name": "echo",
                "description": "Repeat text.",
                "parameters": ECHO.parameters,
            },
        }
    ]


def test_schemas_default_to_all_tools(registry: ToolRegistry) -> None:
    """Without names, schemas() covers every registered tool in registration order."""
    assert [s["function"]["name"] for s in registry.schemas()] == ["echo", "refuser", "crasher"]


def test_default_registry_has_calculator_and_web_search() -> None:
    """The default registry offers both built-in tools."""
    assert default_registry().names() == ["calculator", "web_search"]


def test_default_registry_is_fresh_each_time() -> None:
    """Registering on one default registry does not leak into the next."""
    first = default_registry()
    first.register(ECHO)
    assert "echo" not in default_registry().names()


async def test_default_registry_runs_calculator() -> None:
    """A calculator call through the default registry returns the computed value."""
    result = await default_registry().execute(
        ToolCall(id="c", name="calculator", arguments='{"expression": "6 * 7"}'), CTX
    )
    assert result == ToolResult(call_id="c", name="calculator", content="42")


async def test_default_registry_reports_calculator_refusal() -> None:
    """A refused expression comes back as an error result, not an exception."""
    result = await default_registry().execute(
        ToolCall(id="c", name="calculator", arguments='{"expression": "__import__(\'os\')"}'), CTX
    )
    assert result.is_error
    assert "function calls" in result.content


async def test_default_registry_runs_web_search() -> None:
    """A web_search call through the default registry returns a numbered list of hits."""
    result = await default_registry().execute(
        ToolCall(id="s", name="web_search", arguments='{"query": "Temporal", "max_results": 2}'),
        CTX,
    )
    assert not result.is_error
    assert result.content.startswith("1. ")
    assert "\n\n2. " in result.content
