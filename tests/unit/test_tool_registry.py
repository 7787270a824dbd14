"""ToolRegistry: every mistake of the LLM's becomes an error result; faults propagate."""

from __future__ import annotations

import json
from typing import Any

import pytest

import agentic_loop.tools
from agentic_loop.config import ConfigError
from agentic_loop.tools import (
    DuplicateToolError,
    Tool,
    ToolContext,
    ToolError,
    ToolRegistry,
    default_registry,
    tool,
)
from agentic_loop.types import ToolCall, ToolResult

CTX = ToolContext(workflow_id="wf-test", idempotency_key="key-1")


@tool
async def echo(text: str, times: int = 1) -> str:
    """Repeat text."""
    return f"{text} x{times}"


@tool
def refuser() -> str:
    """Always refuses."""
    raise ToolError("not today")


@tool
def crasher() -> str:
    """Always crashes."""
    raise RuntimeError("database is down")


async def _raw_run(args: dict[str, Any], ctx: ToolContext) -> str:
    return json.dumps(args, sort_keys=True)


# Built by hand, as an MCP tool is: the schema is only shown to the model, not enforced here.
RAW = Tool(
    name="raw",
    description="Shows the arguments it got.",
    parameters={
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    },
    run=_raw_run,
)


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry([echo, refuser, crasher, RAW])


async def _execute(registry: ToolRegistry, name: str, arguments: str) -> ToolResult:
    return await registry.execute(ToolCall(id="call-1", name=name, arguments=arguments), CTX)


async def test_successful_call_returns_content(registry: ToolRegistry) -> None:
    """A valid call returns the tool's output as a non-error result for the same call id."""
    result = await _execute(registry, "echo", '{"text": "hi", "times": 2}')
    assert result == ToolResult(call_id="call-1", name="echo", content="hi x2", is_error=False)


async def test_defaults_fill_arguments_left_out(registry: ToolRegistry) -> None:
    """An optional argument the model leaves out takes the function's default."""
    result = await _execute(registry, "echo", '{"text": "hi"}')
    assert result.content == "hi x1"


async def test_unknown_tool_lists_available_tools(registry: ToolRegistry) -> None:
    """Calling a tool that does not exist is an error result naming the tools that do."""
    result = await _execute(registry, "nope", "{}")
    assert result.is_error
    assert result.content == "unknown tool 'nope'; available tools: echo, refuser, crasher, raw"


async def test_malformed_json_is_an_error_result(registry: ToolRegistry) -> None:
    """Arguments that are not valid JSON become an error result instead of raising."""
    result = await _execute(registry, "echo", '{"text": "hi"')
    assert result.is_error
    assert "not valid JSON" in result.content


@pytest.mark.parametrize("name", ["echo", "raw"])
@pytest.mark.parametrize("arguments", ['["hi"]', '"hi"', "42", "null"])
async def test_non_object_json_is_an_error_result(
    registry: ToolRegistry, name: str, arguments: str
) -> None:
    """JSON that is not an object is refused, for decorated and hand-built tools alike."""
    result = await _execute(registry, name, arguments)
    assert result.is_error
    assert result.content == "arguments must be a JSON object"


async def test_missing_required_argument_is_an_error_result(registry: ToolRegistry) -> None:
    """Leaving out a required argument is an error result naming it."""
    result = await _execute(registry, "echo", '{"times": 2}')
    assert result.is_error
    assert result.content == "invalid arguments: 'text': required, but missing"


async def test_empty_arguments_mean_no_arguments(registry: ToolRegistry) -> None:
    """An empty argument string is read as {}, so a missing required argument is reported."""
    result = await _execute(registry, "echo", "")
    assert result.is_error
    assert result.content == "invalid arguments: 'text': required, but missing"


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ('{"text": 5}', "'text': Input should be a valid string (got 5)"),
        ('{"text": "hi", "times": "2"}', "'times': Input should be a valid integer (got \"2\")"),
        ('{"text": "hi", "times": true}', "'times': Input should be a valid integer (got true)"),
        ('{"text": "hi", "times": 2.5}', "'times': Input should be a valid integer (got 2.5)"),
    ],
)
async def test_wrong_argument_type_is_an_error_result(
    registry: ToolRegistry, arguments: str, reason: str
) -> None:
    """An argument of the wrong JSON type is refused, naming it and the value sent; strings of
    digits and booleans are no integers, as the schema shown to the model says."""
    result = await _execute(registry, "echo", arguments)
    assert result.is_error
    assert result.content == f"invalid arguments: {reason}"


async def test_every_failing_argument_is_listed(registry: ToolRegistry) -> None:
    """All the arguments that are wrong are reported at once, so one retry can fix them all."""
    result = await _execute(registry, "echo", '{"text": 5, "times": "x"}')
    assert result.content == (
        "invalid arguments: 'text': Input should be a valid string (got 5); "
        "'times': Input should be a valid integer (got \"x\")"
    )


async def test_unknown_argument_is_an_error_result(registry: ToolRegistry) -> None:
    """An argument the function does not take is refused, and the ones it takes are listed."""
    result = await _execute(registry, "echo", '{"text": "hi", "loud": true}')
    assert result.is_error
    assert result.content == (
        "invalid arguments: 'loud': unknown argument; this tool takes: text, times"
    )


async def test_hand_built_tool_gets_the_arguments_unchecked(registry: ToolRegistry) -> None:
    """A hand-built tool receives the object as sent: its schema is for the model, and
    checking against it is the tool's own job (or its MCP server's)."""
    result = await _execute(registry, "raw", '{"n": "two", "extra": [1]}')
    assert result == ToolResult(call_id="call-1", name="raw", content='{"extra": [1], "n": "two"}')


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


async def _other_raw_run(args: dict[str, Any], ctx: ToolContext) -> str:
    return "another"


def test_duplicate_registration_names_both_sources() -> None:
    """A second tool of the same name is refused with a configuration error naming where
    each of the two came from."""
    registry = ToolRegistry([Tool("echo", "", {}, _raw_run, source="module a.tools")])
    with pytest.raises(DuplicateToolError) as caught:
        registry.register(Tool("echo", "", {}, _other_raw_run, source="module b.tools"))
    assert str(caught.value) == (
        "tool 'echo' is offered twice: by module a.tools and by module b.tools; "
        "rename one (@tool(name=...)) or stop loading one of them"
    )
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, ValueError)


def test_duplicate_of_a_tool_without_source_still_reads() -> None:
    """A tool registered directly, with no source, is described rather than left blank."""
    registry = ToolRegistry([echo])
    with pytest.raises(DuplicateToolError, match="by code that registered it directly and by"):
        registry.register(Tool("echo", "another echo", {}, _raw_run))


def test_iteration_yields_tools_in_registration_order(registry: ToolRegistry) -> None:
    """Iterating a registry gives its Tool objects, in the order they were registered."""
    assert list(registry) == [echo, refuser, crasher, RAW]
    assert len(registry) == 4
    assert "raw" in registry
    assert "nope" not in registry


def test_schemas_of_named_tools_in_openai_format(registry: ToolRegistry) -> None:
    """schemas() returns Chat Completions function tools for the named ones, skipping unknown."""
    assert registry.schemas(["echo", "missing"]) == [
        {
            "type": "function",
            "function": {
                "name": "echo",
                "description": "Repeat text.",
                "parameters": echo.parameters,
            },
        }
    ]


def test_schemas_default_to_all_tools(registry: ToolRegistry) -> None:
    """Without names, schemas() covers every registered tool in registration order."""
    names = [s["function"]["name"] for s in registry.schemas()]
    assert names == ["echo", "refuser", "crasher", "raw"]


def test_default_registry_has_calculator_and_web_search() -> None:
    """The default registry offers both built-in tools, each labelled as built in."""
    registry = default_registry()
    assert registry.names() == ["calculator", "web_search"]
    assert {t.source for t in registry} == {"built-in"}


def test_default_registry_is_fresh_each_time() -> None:
    """Registering on one default registry does not leak into the next."""
    first = default_registry()
    first.register(echo)
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


def test_public_names_import_from_the_package() -> None:
    """Every name in agentic_loop.tools.__all__ is there, and the documented ones are listed."""
    for name in agentic_loop.tools.__all__:
        assert getattr(agentic_loop.tools, name) is not None
    assert set(agentic_loop.tools.__all__) == {
        "Tool",
        "ToolContext",
        "ToolError",
        "ToolRegistry",
        "DuplicateToolError",
        "ToolLoadError",
        "tool",
        "default_registry",
        "load_tools",
        "build_registry",
        "describe_tools",
        "ENTRY_POINT_GROUP",
        "agent_tool",
    }


def test_the_same_tool_reached_twice_is_served_once() -> None:
    """One tool arriving by two routes (an entry point, and --tools naming its module) is
    kept once, with its first source; two different tools under one name still clash."""
    import dataclasses

    from agentic_loop.tools import DuplicateToolError, tool

    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    @tool(name="lookup")
    def other(city: str) -> str:
        """Another lookup."""
        return city

    registry = ToolRegistry([dataclasses.replace(lookup, source="entry point notes")])
    registry.register(dataclasses.replace(lookup, source="module mypkg.tools"))
    assert [t.source for t in registry] == ["entry point notes"]
    with pytest.raises(DuplicateToolError, match="offered twice"):
        registry.register(other)
