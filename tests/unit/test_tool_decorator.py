"""@tool: a typed function becomes a Tool whose schema, validation and result come from it."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import threading
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from agentic_loop.tools import Tool, ToolContext, ToolError, ToolRegistry, tool
from agentic_loop.types import ToolCall

CTX = ToolContext(workflow_id="wf-test", idempotency_key="key-1")


class Point(BaseModel):
    """A point on the map."""

    x: int
    y: int = 0


@dataclasses.dataclass
class Window:
    start: date
    days: int


class Filters(TypedDict):
    tag: str


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Listing(BaseModel):
    title: str
    price: float


@tool
def lookup(city: str, unit: Literal["c", "f"] = "c", days: int | None = None) -> str:
    """Look up the weather of a city.

    Only cities on the map are known.

    Args:
        city: Name of the city,
            as the map spells it.
        unit (str): Celsius or Fahrenheit.
        days: How many days ahead; today alone when left out.

    Returns:
        The forecast.
    """
    return f"{city} {unit} {days}"


def test_schema_comes_from_type_hints_and_docstring() -> None:
    """The schema has one property per parameter, with the docstring's argument descriptions,
    the defaults, and no titles; the description is the text before the sections."""
    assert lookup.name == "lookup"
    assert (
        lookup.description == "Look up the weather of a city.\n\nOnly cities on the map are known."
    )
    assert lookup.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "Name of the city, as the map spells it."},
            "unit": {
                "type": "string",
                "enum": ["c", "f"],
                "default": "c",
                "description": "Celsius or Fahrenheit.",
            },
            "days": {
                "anyOf": [{"type": "integer"}, {"type": "null"}],
                "default": None,
                "description": "How many days ahead; today alone when left out.",
            },
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_schema_keys_read_in_the_usual_order() -> None:
    """The top of the schema starts with type and properties, as hand-written ones do."""
    assert list(lookup.parameters)[:2] == ["type", "properties"]


def test_nested_types_are_described_under_defs_without_titles() -> None:
    """Models, dataclasses, TypedDicts and enums become $defs, and only property names called
    "title" survive the removal of pydantic's titles."""

    @tool
    def plan(
        points: list[Point], window: Window, filters: Filters, unit: Unit, listing: Listing
    ) -> str:
        """Plan."""
        return ""

    schema = plan.parameters
    assert schema["properties"]["points"] == {
        "type": "array",
        "items": {"$ref": "#/$defs/Point"},
    }
    assert schema["$defs"]["Point"] == {
        "type": "object",
        "description": "A point on the map.",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}},
        "required": ["x"],
    }
    assert set(schema["$defs"]) == {"Point", "Window", "Filters", "Unit", "Listing"}
    assert schema["$defs"]["Unit"] == {"type": "string", "enum": ["celsius", "fahrenheit"]}
    assert set(schema["$defs"]["Listing"]["properties"]) == {"title", "price"}
    assert "title" not in str({k: v for k, v in schema["$defs"].items() if k != "Listing"})


async def test_nested_values_arrive_as_their_types() -> None:
    """The function gets model, dataclass and enum instances, built from plain JSON values
    (a date from its string), not the raw dicts."""
    seen: dict[str, Any] = {}

    @tool
    def plan(points: list[Point], window: Window, unit: Unit) -> str:
        """Plan."""
        seen.update(points=points, window=window, unit=unit)
        return "ok"

    args = {
        "points": [{"x": 1}, {"x": 2, "y": 3}],
        "window": {"start": "2025-06-01", "days": 3},
        "unit": "celsius",
    }
    assert await plan.run(args, CTX) == "ok"
    assert seen == {
        "points": [Point(x=1), Point(x=2, y=3)],
        "window": Window(date(2025, 6, 1), 3),
        "unit": Unit.CELSIUS,
    }


async def test_sync_function_runs_in_a_thread_and_the_loop_keeps_running() -> None:
    """A sync tool that blocks does not block the event loop: the loop releases it."""
    released = threading.Event()
    threads: list[int] = []

    @tool
    def blocking() -> str:
        """Block until released."""
        threads.append(threading.get_ident())
        return "released" if released.wait(timeout=5) else "the loop was blocked"

    async def release_soon() -> None:
        await asyncio.sleep(0.01)
        released.set()

    result, _ = await asyncio.gather(blocking.run({}, CTX), release_soon())
    assert result == "released"
    assert threads != [threading.get_ident()]


async def test_async_function_runs_on_the_event_loop() -> None:
    """An async tool is awaited on the loop itself, not sent to a thread."""
    threads: list[int] = []

    @tool
    async def quick(n: int) -> str:
        """Quick."""
        threads.append(threading.get_ident())
        await asyncio.sleep(0)
        return str(n * 2)

    assert await quick.run({"n": 21}, CTX) == "42"
    assert threads == [threading.get_ident()]


async def test_sync_wrapper_returning_a_coroutine_is_awaited() -> None:
    """A sync function that hands back a coroutine (a plain wrapper around an async one) has
    that coroutine awaited, not encoded."""

    async def double(n: int) -> str:
        return str(n * 2)

    def wrapper(n: int) -> Any:
        return double(n)

    assert await tool(wrapper).run({"n": 2}, CTX) == "4"


async def test_callable_object_with_async_call_is_awaited() -> None:
    """An object whose __call__ is async counts as an async tool."""

    class Greeter:
        """Greets."""

        async def __call__(self, who: str) -> str:
            return f"hello {who}"

    greeter = tool(Greeter(), name="greet")
    assert await greeter.run({"who": "you"}, CTX) == "hello you"


@pytest.mark.parametrize("annotation", ["plain", "optional"])
async def test_context_is_passed_and_not_in_the_schema(annotation: str) -> None:
    """A parameter annotated ToolContext (or ToolContext | None) gets the call's context and
    is neither shown to the model nor accepted from it."""

    def plain(query: str, ctx: ToolContext) -> str:
        """Search."""
        return f"{query} {ctx.idempotency_key}"

    def optional(query: str, ctx: ToolContext | None = None) -> str:
        """Search."""
        return f"{query} {ctx.idempotency_key if ctx else None}"

    made = tool({"plain": plain, "optional": optional}[annotation], name="search")
    assert list(made.parameters["properties"]) == ["query"]
    assert made.parameters["required"] == ["query"]
    assert await made.run({"query": "q"}, CTX) == "q key-1"
    with pytest.raises(ToolError, match="'ctx': unknown argument"):
        await made.run({"query": "q", "ctx": {"workflow_id": "x", "idempotency_key": "y"}}, CTX)


async def test_positional_only_parameters_are_passed_positionally() -> None:
    """A positional-only parameter still gets its value, which a keyword call would not give."""

    @tool
    def pair(a: str, /, b: str, *, c: str = "c") -> str:
        """Pair."""
        return a + b + c

    assert await pair.run({"a": "a", "b": "b"}, CTX) == "abc"


async def test_validation_error_names_the_nested_path() -> None:
    """A wrong value deep in the arguments is reported by its path and the value sent."""

    @tool
    def plan(points: list[Point]) -> str:
        """Plan."""
        return ""

    with pytest.raises(ToolError) as caught:
        await plan.run({"points": [{"x": 1}, {"x": "one"}, {"y": 2}]}, CTX)
    assert str(caught.value) == (
        "invalid arguments: 'points[1].x': Input should be a valid integer (got \"one\"); "
        "'points[2].x': required, but missing"
    )


async def test_long_rejected_values_are_shortened() -> None:
    """A huge wrong value is quoted only in part, keeping the message one short line."""
    with pytest.raises(ToolError) as caught:
        await lookup.run({"city": ["x" * 500]}, CTX)
    message = str(caught.value)
    assert message.startswith("invalid arguments: 'city': Input should be a valid string (got [")
    assert message.endswith("…)")
    assert len(message) < 150
    assert "\n" not in message


async def test_unknown_argument_is_refused_before_the_function_runs() -> None:
    """An argument the function does not take is a ToolError, and the function is not called."""
    calls: list[str] = []

    @tool
    def only_city(city: str) -> str:
        """Only city."""
        calls.append(city)
        return city

    with pytest.raises(ToolError, match="'country': unknown argument; this tool takes: city"):
        await only_city.run({"city": "Oslo", "country": "NO"}, CTX)
    assert calls == []


async def test_non_object_arguments_are_refused() -> None:
    """Arguments that are not a mapping are a ToolError, whoever calls run()."""
    with pytest.raises(ToolError, match="must be a JSON object"):
        await lookup.run(["Oslo"], CTX)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ({"도시": "서울", "n": 1}, '{"도시": "서울", "n": 1}'),
        ([1, 2.5, None], "[1, 2.5, null]"),
        (None, "null"),
        (42, "42"),
        (Point(x=1), '{"x": 1, "y": 0}'),
        (Window(date(2025, 6, 1), 2), '{"start": "2025-06-01", "days": 2}'),
        ("already text", "already text"),
    ],
)
async def test_results_other_than_str_are_json_encoded(value: object, encoded: str) -> None:
    """A str result is passed through; anything else is JSON, non-ASCII kept as is."""

    @tool
    def give() -> object:
        """Give."""
        return value

    assert await give.run({}, CTX) == encoded


async def test_unencodable_result_is_a_fault_naming_the_tool() -> None:
    """A result JSON cannot carry is raised as a TypeError, not sent to the model."""

    @tool
    def give() -> object:
        """Give."""
        return threading.Lock()

    with pytest.raises(TypeError, match="tool 'give' returned a lock, which cannot be encoded"):
        await give.run({}, CTX)


@pytest.mark.parametrize("is_async", [False, True])
async def test_tool_error_is_a_refusal_and_other_exceptions_propagate(is_async: bool) -> None:
    """Through the registry, a ToolError becomes an error result and any other exception is
    raised as it was, for sync and async functions alike."""

    def sync_tool(fail: str) -> str:
        if fail == "refuse":
            raise ToolError("no such city")
        raise KeyError("backend down")

    async def async_tool(fail: str) -> str:
        return sync_tool(fail)

    registry = ToolRegistry([tool(async_tool if is_async else sync_tool, name="t")])
    refused = await registry.execute(ToolCall("c", "t", '{"fail": "refuse"}'), CTX)
    assert (refused.is_error, refused.content) == (True, "no such city")
    with pytest.raises(KeyError, match="backend down"):
        await registry.execute(ToolCall("c", "t", '{"fail": "crash"}'), CTX)


def test_options_land_on_the_tool() -> None:
    """name, description, pure, timeout_seconds and approval given to @tool are the Tool's."""

    @tool(name="book", description="Book it.", pure=True, timeout_seconds=2.5, approval=True)
    def reserve(room: str) -> str:
        """Not this text."""
        return room

    assert (reserve.name, reserve.description) == ("book", "Book it.")
    assert (reserve.pure, reserve.timeout_seconds, reserve.approval) == (True, 2.5, True)
    assert reserve.source == ""


def test_options_default_to_an_ordinary_tool() -> None:
    """Bare @tool makes a tool that is not pure, has no limit of its own and needs no approval."""
    assert (lookup.pure, lookup.timeout_seconds, lookup.approval) == (False, None, False)
    assert isinstance(lookup, Tool)


def test_tool_without_docstring_has_an_empty_description() -> None:
    """With no docstring and no description option, the description is empty, not None."""

    @tool
    def bare(x: int) -> str:
        return str(x)

    assert bare.description == ""
    assert "description" not in bare.parameters["properties"]["x"]


def test_description_on_the_type_wins_over_the_docstring() -> None:
    """An Annotated Field(description=...) is kept even when the docstring describes the
    argument too; its bounds reach the schema."""

    @tool
    def count(n: Annotated[int, Field(ge=1, le=5, description="From the type.")] = 2) -> str:
        """Count.

        Args:
            n: From the docstring.
        """
        return str(n)

    assert count.parameters["properties"]["n"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "default": 2,
        "description": "From the type.",
    }


async def test_field_as_default_sets_default_and_bounds() -> None:
    """`n: int = Field(3, ge=1)` works as in pydantic: 3 when left out, 0 refused."""

    @tool
    def count(n: int = Field(3, ge=1)) -> str:
        """Count."""
        return str(n)

    assert await count.run({}, CTX) == "3"
    with pytest.raises(ToolError, match="'n': Input should be greater than or equal to 1"):
        await count.run({"n": 0}, CTX)


async def test_parameters_named_like_model_attributes_work() -> None:
    """Parameters called json, schema or model_config are plain arguments, not clashes."""

    @tool
    def clash(json: str, schema: int, model_config: bool = False) -> str:
        """Clash."""
        return f"{json} {schema} {model_config}"

    assert set(clash.parameters["properties"]) == {"json", "schema", "model_config"}
    assert await clash.run({"json": "j", "schema": 1}, CTX) == "j 1 False"


def test_tool_stays_a_frozen_dataclass() -> None:
    """A decorated tool can be relabelled with dataclasses.replace and not mutated."""
    relabelled = dataclasses.replace(lookup, source="module elsewhere")
    assert (relabelled.source, relabelled.run) == ("module elsewhere", lookup.run)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lookup.name = "other"  # type: ignore[misc]


def lookup_function(city: str) -> str:
    return city


def _untyped(city, days: int) -> str:  # type: ignore[no-untyped-def]
    return ""


def _star_args(*cities: str) -> str:
    return ""


def _star_kwargs(city: str, **extra: str) -> str:
    return ""


def _generator(city: str) -> Iterator[str]:
    yield city


def _lock(lock: threading.Lock) -> str:
    return ""


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (_untyped, "parameter 'city' has no type hint; annotate it"),
        (_star_args, "parameter 'cities' collects arbitrary arguments"),
        (_star_kwargs, "parameter 'extra' collects arbitrary arguments"),
        (42, "got 42 \\(int\\); decorate a def or async def"),
        ("lookup", "write @tool\\(name='lookup'\\)"),
        (_generator, "it yields"),
        (_lock, "an argument's type has no JSON schema"),
        (lookup, "already a Tool"),
    ],
)
def test_unusable_functions_are_refused_at_decoration(target: Any, message: str) -> None:
    """What cannot become a tool is a TypeError when decorated, saying what to change."""
    with pytest.raises(TypeError, match=message):
        tool(target)


def test_unresolvable_type_hint_is_refused_at_decoration() -> None:
    """A hint naming a type only defined inside a function cannot be read: a TypeError."""

    class Local(BaseModel):
        a: int

    def uses_local(value: Local) -> str:
        return ""

    with pytest.raises(TypeError, match=r"cannot be resolved .*define the types"):
        tool(uses_local)


@pytest.mark.parametrize("name", ["has space", "", "x" * 65, "dotted.name"])
def test_names_the_model_cannot_call_are_refused(name: str) -> None:
    """A tool name outside the Chat Completions alphabet is a ValueError at decoration."""
    with pytest.raises(ValueError, match="is not one the model can call"):
        tool(name=name)(lookup_function)


@pytest.mark.parametrize("seconds", [0, -1.0])
def test_timeout_must_be_positive(seconds: float) -> None:
    """A timeout of zero or less is refused, pointing at None for no limit."""
    with pytest.raises(ValueError, match=r"must be a positive number of seconds.*use None"):
        tool(timeout_seconds=seconds)(lookup_function)


def test_the_decorated_function_stays_callable_as_written() -> None:
    """`Tool.function` is the function as the user wrote it, so their unit tests can call it
    directly, context and all; a hand-built tool has none."""
    from agentic_loop.tools import Tool, ToolContext, tool

    @tool
    def greet(name: str, ctx: ToolContext) -> str:
        """Greet someone."""
        return f"hello {name} ({ctx.idempotency_key})"

    assert greet.function is not None
    assert greet.function("ana", ToolContext("wf", "k1")) == "hello ana (k1)"

    async def run(args: dict[str, object], ctx: ToolContext) -> str:
        return ""

    assert Tool("raw", "", {}, run).function is None
