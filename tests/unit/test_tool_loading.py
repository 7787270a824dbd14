"""Tools from modules, attributes and installed packages' entry points, labelled with their
source; every way a spec can be wrong is one readable ToolLoadError."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from agentic_loop.config import ConfigError
from agentic_loop.tools import (
    ENTRY_POINT_GROUP,
    DuplicateToolError,
    Tool,
    ToolContext,
    ToolLoadError,
    build_registry,
    describe_tools,
    load_tools,
)
from agentic_loop.tools.loading import builtin_tools, load_entry_point_tools
from support import install_distribution

CTX = ToolContext(workflow_id="wf-test", idempotency_key="key-1")

# A module of tools as a user writes one: two decorated functions and a hand-built Tool.
TOOLS_MODULE = '''
from typing import Any

from agentic_loop.tools import Tool, ToolContext, ToolRegistry, tool


@tool
def lookup(city: str) -> str:
    """Look a city up."""
    return f"found {city}"


async def _ping(args: dict[str, Any], ctx: ToolContext) -> str:
    return "pong"


PING = Tool("ping", "Answers pong.", {"type": "object", "properties": {}}, _ping)
also_lookup = lookup


@tool(pure=True)
def shout(text: str) -> str:
    """Shout."""
    return text.upper()


PAIR = [lookup, shout]
TUPLE = (shout,)
REGISTRY = ToolRegistry([PING, shout])


class Namespace:
    inner = PING


def make_tool() -> Tool:
    return PING


def make_list() -> list[Tool]:
    return [lookup, PING]


def make_registry() -> ToolRegistry:
    return ToolRegistry([shout])


def needs_argument(prefix: str) -> Tool:
    return PING


def raises() -> Tool:
    raise RuntimeError("no database")


def returns_a_function() -> Any:
    return make_tool


NUMBER = 42
EMPTY: list[Tool] = []
MIXED = [lookup, "shout"]
'''

Writer = Callable[[str], str]


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Writer:
    """Writes a module under a fresh name on sys.path and returns that name, so no test sees
    another's module in sys.modules."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(source: str) -> str:
        name = f"tools_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        return name

    return write


@pytest.fixture
def module(write_module: Writer) -> str:
    return write_module(TOOLS_MODULE)


def _install_entry_point(tmp_path: Path, value: str, name: str = "other") -> None:
    """Makes tmp_path (already on sys.path) hold an installed distribution, other-dist 1.0,
    whose entry point NAME in our group has VALUE."""
    install_distribution(tmp_path, "other-dist", "1.0", {ENTRY_POINT_GROUP: {name: value}})


def test_module_spec_gives_its_tools_in_definition_order(module: str) -> None:
    """A module without TOOLS gives every Tool it holds, in order, each once, labelled."""
    tools = load_tools(module)
    assert [t.name for t in tools] == ["lookup", "ping", "shout"]
    assert {t.source for t in tools} == {f"module {module}"}
    assert tools[2].pure


def test_module_spec_prefers_tools_list(write_module: Writer) -> None:
    """A module's TOOLS, when it has one, is the whole answer: other Tools in it are left out."""
    name = write_module(TOOLS_MODULE + "\nTOOLS = [shout]\n")
    assert [t.name for t in load_tools(name)] == ["shout"]


@pytest.mark.parametrize(
    ("attr", "names"),
    [
        ("lookup", ["lookup"]),
        ("PAIR", ["lookup", "shout"]),
        ("TUPLE", ["shout"]),
        ("REGISTRY", ["ping", "shout"]),
        ("Namespace.inner", ["ping"]),
        ("make_tool", ["ping"]),
        ("make_list", ["lookup", "ping"]),
        ("make_registry", ["shout"]),
    ],
)
def test_attribute_spec_accepts_each_kind(module: str, attr: str, names: list[str]) -> None:
    """module:attr takes a Tool, a list or tuple of them, a registry, or a function without
    arguments returning one of those; the source names the spec."""
    tools = load_tools(f"{module}:{attr}")
    assert [t.name for t in tools] == names
    assert {t.source for t in tools} == {f"module {module}:{attr}"}


async def test_loaded_tools_still_run(module: str) -> None:
    """Relabelling a tool with its source keeps its function and validation."""
    (lookup,) = load_tools(f"{module}:lookup")
    assert await lookup.run({"city": "Oslo"}, CTX) == "found Oslo"


@pytest.mark.parametrize("spec", ["", "a:b:c", "mod:", ":attr", "my-pkg.tools", "a..b"])
def test_malformed_spec_is_refused(spec: str) -> None:
    """A spec that is neither 'module' nor 'module:attr' says what to write instead."""
    with pytest.raises(ToolLoadError) as caught:
        load_tools(spec)
    assert str(caught.value) == (
        f"{spec!r} is not a tool spec; write a module path, 'mypkg.tools', or a module and "
        "attribute, 'mypkg.tools:my_tools'"
    )


def test_missing_module_is_refused() -> None:
    """A module that cannot be found is named, with where it should be."""
    with pytest.raises(ToolLoadError) as caught:
        load_tools("no_such_tools_pkg.tools:x")
    assert str(caught.value) == (
        "tools 'no_such_tools_pkg.tools:x': there is no module no_such_tools_pkg.tools; check "
        "the spelling, and that its package is installed in this environment or its directory "
        "is on PYTHONPATH"
    )


def test_module_missing_a_dependency_is_refused(write_module: Writer) -> None:
    """A module that imports something missing is told apart from a missing module."""
    name = write_module("import no_such_dependency_xyz\n")
    with pytest.raises(ToolLoadError) as caught:
        load_tools(name)
    assert str(caught.value) == (
        f"tools {name!r}: importing {name} failed, as it needs module no_such_dependency_xyz, "
        "which is missing; install it in this environment"
    )


def test_module_raising_on_import_is_refused(write_module: Writer) -> None:
    """An exception while importing the module is reported with its type and message."""
    name = write_module("raise RuntimeError('bad config')\n")
    with pytest.raises(ToolLoadError) as caught:
        load_tools(name)
    assert str(caught.value) == (
        f"tools {name!r}: importing {name} raised RuntimeError: bad config; fix that module"
    )
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_module_without_tools_is_refused(write_module: Writer) -> None:
    """A module holding no Tool says how to make or name one."""
    name = write_module("X = 1\n")
    with pytest.raises(ToolLoadError) as caught:
        load_tools(name)
    assert str(caught.value) == (
        f"tools {name!r}: module {name} defines no tools; decorate a function with @tool, "
        f"list them in TOOLS = [...], or name one as '{name}:attr'"
    )


def test_missing_attribute_is_refused(module: str) -> None:
    """An attribute the module lacks is named, pointing at the part after the colon."""
    with pytest.raises(ToolLoadError) as caught:
        load_tools(f"{module}:nothing")
    assert str(caught.value) == (
        f"tools '{module}:nothing': {module} has no attribute 'nothing'; check the name after "
        "the ':'"
    )


_GIVE = "give a Tool, a list of Tools, a ToolRegistry, or a function returning one of those"


@pytest.mark.parametrize(
    ("attr", "reason"),
    [
        ("NUMBER", f"it is an int (42), not tools; {_GIVE}"),
        ("EMPTY", "it is empty; give at least one tool, or stop loading it"),
        (
            "MIXED",
            "item 1 is a str ('shout'), not a Tool; list only Tools (decorate functions with "
            "@tool)",
        ),
        ("needs_argument", "it is a function that needs arguments; a tool factory must take none"),
        ("raises", "calling it raised RuntimeError: no database; fix that function"),
        ("returns_a_function", "what it returned is a function (<function make_tool at"),
    ],
)
def test_attribute_of_the_wrong_kind_is_refused(module: str, attr: str, reason: str) -> None:
    """An attribute that is, or returns, something other than tools is refused saying what it
    is and what is accepted; a factory's result is not called again."""
    with pytest.raises(ToolLoadError) as caught:
        load_tools(f"{module}:{attr}")
    assert str(caught.value).startswith(f"tools '{module}:{attr}': {reason}")


def test_wrong_tools_list_is_refused(write_module: Writer) -> None:
    """A TOOLS that is not a list of tools is reported as the module's TOOLS."""
    name = write_module("TOOLS = 'lookup'\n")
    with pytest.raises(ToolLoadError) as caught:
        load_tools(name)
    assert (
        str(caught.value) == f"tools {name!r}: {name}.TOOLS is a str ('lookup'), not tools; {_GIVE}"
    )


def test_load_error_is_a_config_error() -> None:
    """ToolLoadError is a ConfigError, so the CLI reports it like any bad setting."""
    assert issubclass(ToolLoadError, ConfigError)


def _of_this_test(tools: Iterable[Tool]) -> list[Tool]:
    """The tools that did not come from another installed package's entry point (the example
    project's, say, when it is installed beside the library)."""
    return [
        t for t in tools if not t.source.startswith("entry point") or "(other-dist 1.0)" in t.source
    ]


def test_entry_point_tools_are_loaded_and_labelled(tmp_path: Path, write_module: Writer) -> None:
    """An installed distribution's entry point in our group is found by importlib.metadata,
    loaded like module:attr, and labelled with its name and distribution."""
    module = write_module(TOOLS_MODULE)
    _install_entry_point(tmp_path, f"{module}:PAIR")
    tools = _of_this_test(load_entry_point_tools())
    assert [t.name for t in tools] == ["lookup", "shout"]
    assert {t.source for t in tools} == {"entry point other (other-dist 1.0)"}


def test_broken_entry_point_names_it_and_its_distribution(
    tmp_path: Path, write_module: Writer
) -> None:
    """An entry point pointing at a missing module is refused naming the entry point."""
    _install_entry_point(tmp_path, "gone_module_xyz:TOOLS")
    with pytest.raises(ToolLoadError) as caught:
        build_registry()
    assert str(caught.value).startswith(
        "entry point other (other-dist 1.0) = 'gone_module_xyz:TOOLS' in group "
        "agentic_loop.tools: there is no module gone_module_xyz;"
    )


def test_malformed_entry_point_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry point whose value is no module path is refused, naming the entry point."""
    monkeypatch.syspath_prepend(str(tmp_path))
    _install_entry_point(tmp_path, "not a/module")
    with pytest.raises(ToolLoadError) as caught:
        load_entry_point_tools()
    assert str(caught.value) == (
        "entry point other (other-dist 1.0) = 'not a/module' in group agentic_loop.tools: that "
        "is not 'module' or 'module:attr'; the package declaring it needs fixing, or uninstalling"
    )


def test_entry_point_extras_are_ignored(tmp_path: Path, write_module: Writer) -> None:
    """An entry point with extras ("mod:attr [extra]") still loads its attribute."""
    module = write_module(TOOLS_MODULE)
    _install_entry_point(tmp_path, f"{module}:shout [fast]")
    assert [t.name for t in _of_this_test(load_entry_point_tools())] == ["shout"]


def test_build_registry_orders_builtins_entry_points_then_specs(
    tmp_path: Path, write_module: Writer
) -> None:
    """The registry holds the built-ins, then entry points' tools, then the specs' tools."""
    module = write_module(TOOLS_MODULE)
    _install_entry_point(tmp_path, f"{module}:shout")
    registry = build_registry([f"{module}:PING", f"{module}:lookup"])
    assert [(t.name, t.source) for t in _of_this_test(registry)] == [
        ("calculator", "built-in"),
        ("web_search", "built-in"),
        ("shout", "entry point other (other-dist 1.0)"),
        ("ping", f"module {module}:PING"),
        ("lookup", f"module {module}:lookup"),
    ]


def test_build_registry_can_leave_out_builtins_and_entry_points(
    tmp_path: Path, write_module: Writer
) -> None:
    """With builtins and entry_points off, only the specs' tools are there."""
    module = write_module(TOOLS_MODULE)
    _install_entry_point(tmp_path, f"{module}:shout")
    registry = build_registry([f"{module}:lookup"], builtins=False, entry_points=False)
    assert registry.names() == ["lookup"]


def test_name_offered_by_an_entry_point_and_a_spec_names_both(
    tmp_path: Path, write_module: Writer
) -> None:
    """Two different tools of one name, from an entry point and from a spec, are a
    DuplicateToolError naming both; the very same tool by both routes is served once."""
    module = write_module(TOOLS_MODULE)
    _install_entry_point(tmp_path, f"{module}:lookup")
    assert [t.source for t in build_registry([module]) if t.name == "lookup"] == [
        "entry point other (other-dist 1.0)"
    ]
    rival = write_module(
        """
        from agentic_loop.tools import tool

        @tool
        def lookup(key: str) -> str:
            \"\"\"Another lookup.\"\"\"
            return key
        """
    )
    with pytest.raises(DuplicateToolError) as caught:
        build_registry([rival])
    assert str(caught.value) == (
        f"tool 'lookup' is offered twice: by entry point other (other-dist 1.0) and by module "
        f"{rival}; rename one (@tool(name=...)) or stop loading one of them"
    )


def test_spec_shadowing_a_builtin_names_both(write_module: Writer) -> None:
    """A spec's tool named like a built-in is refused, naming the built-in."""
    module = write_module(
        "from agentic_loop.tools import tool\n\n"
        "@tool\ndef calculator(expression: str) -> str:\n    return expression\n"
    )
    with pytest.raises(DuplicateToolError, match=f"by built-in and by module {module};"):
        build_registry([module], entry_points=False)


def test_build_registry_refuses_a_lone_string() -> None:
    """A single spec passed bare, not in a list, is a TypeError rather than one per letter."""
    with pytest.raises(TypeError, match=r"write \['mypkg.tools'\]"):
        build_registry("mypkg.tools")


def test_builtins_are_labelled_built_in() -> None:
    """The built-in tools carry the source 'built-in'."""
    assert [(t.name, t.source) for t in builtin_tools()] == [
        ("calculator", "built-in"),
        ("web_search", "built-in"),
    ]


def test_describe_tools_gives_one_row_per_tool(module: str) -> None:
    """Each row has the name, source, description, flags, limit and parameters of a tool."""
    registry = build_registry([f"{module}:shout"], entry_points=False)
    rows = describe_tools(registry)
    assert [row["name"] for row in rows] == ["calculator", "web_search", "shout"]
    assert rows[2] == {
        "name": "shout",
        "source": f"module {module}:shout",
        "description": "Shout.",
        "pure": True,
        "approval": False,
        "timeout_seconds": None,
        "agent": None,
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": False,
        },
    }
    assert rows[0]["pure"] is True
    assert rows[0]["source"] == "built-in"
