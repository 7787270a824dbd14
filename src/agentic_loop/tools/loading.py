"""Where a worker's tools come from: the built-ins, installed packages' entry points, and the
modules named on the command line, each tool labelled with its source.

A spec is `"mypkg.tools"` (the module's TOOLS, else every Tool it holds at module level) or
`"mypkg.tools:attr"` (a Tool, a list or tuple of them, a ToolRegistry, or a function taking
no arguments that returns one of those). An entry point's value is read as the second form.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from collections.abc import Sequence
from importlib import metadata
from types import ModuleType
from typing import Any

from agentic_loop.config import ConfigError
from agentic_loop.tools import calculator, web_search
from agentic_loop.tools.agents import agent_tool
from agentic_loop.tools.base import Tool
from agentic_loop.tools.registry import ToolRegistry
from agentic_loop.types import SubAgent

ENTRY_POINT_GROUP = "agentic_loop.tools"

BUILTIN_SOURCE = "built-in"

_SPEC = re.compile(r"(?P<module>\w+(?:\.\w+)*)(?::(?P<attr>\w+(?:\.\w+)*))?")
_ACCEPTED = "a Tool, a list of Tools, a ToolRegistry, or a function returning one of those"


class ToolLoadError(ConfigError):
    """Tools named by a spec or an entry point could not be loaded; the message says which,
    and what to change."""


def builtin_tools() -> list[Tool]:
    """The tools that come with agentic-loop."""
    return [
        dataclasses.replace(t, source=BUILTIN_SOURCE) for t in (calculator.TOOL, web_search.TOOL)
    ]


def load_tools(spec: str) -> list[Tool]:
    """The tools a spec names, each with its `source` set to `module SPEC`."""
    spec = spec.strip()
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise ToolLoadError(
            f"{spec!r} is not a tool spec; write a module path, 'mypkg.tools', or a module "
            "and attribute, 'mypkg.tools:my_tools'"
        )
    return _load(match["module"], match["attr"], what=f"tools {spec!r}", source=f"module {spec}")


def load_entry_point_tools() -> list[Tool]:
    """The tools of every installed package's `agentic_loop.tools` entry point."""
    tools: list[Tool] = []
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry_point.name} ({_distribution(entry_point)})"
        what = f"{source} = {entry_point.value!r} in group {ENTRY_POINT_GROUP}"
        # Extras ("mod:attr [extra]") say what to install, not what to load.
        match = _SPEC.fullmatch(entry_point.value.partition("[")[0].strip())
        if match is None:
            raise ToolLoadError(
                f"{what}: that is not 'module' or 'module:attr'; the package declaring it "
                "needs fixing, or uninstalling"
            )
        tools += _load(match["module"], match["attr"], what=what, source=source)
    return tools


def build_registry(
    specs: Sequence[str] = (), *, builtins: bool = True, entry_points: bool = True
) -> ToolRegistry:
    """A registry of the built-ins, the entry points' tools and those of `specs`, in that
    order; a name offered twice is a DuplicateToolError naming both sources."""
    if isinstance(specs, str):
        # A lone string would be read as one spec per character.
        raise TypeError(f"build_registry takes a list of specs; write [{specs!r}]")
    registry = ToolRegistry(builtin_tools() if builtins else ())
    for loaded in load_entry_point_tools() if entry_points else ():
        registry.register(loaded)
    for spec in specs:
        for loaded in load_tools(spec):
            registry.register(loaded)
    return registry


def describe_tools(registry: ToolRegistry) -> list[dict[str, Any]]:
    """One row per tool, in registration order, for `agentic-loop tools` to show."""
    return [
        {
            "name": t.name,
            "source": t.source,
            "description": t.description,
            "pure": t.pure,
            "approval": t.approval,
            "timeout_seconds": t.timeout_seconds,
            "parameters": t.parameters,
            # A sub-agent (run as a child workflow when called), with its model and limits.
            "agent": None if t.agent is None else dataclasses.asdict(t.agent),
        }
        for t in registry
    ]


def _load(module_name: str, attr: str | None, *, what: str, source: str) -> list[Tool]:
    module = _import(module_name, what)
    if attr is not None:
        tools = _as_tools(_attribute(module, attr, what), what, "it is")
    elif hasattr(module, "TOOLS"):
        tools = _as_tools(module.TOOLS, what, f"{module_name}.TOOLS is")
    else:
        tools = _module_tools(module)
        if not tools:
            raise ToolLoadError(
                f"{what}: module {module_name} defines no tools; decorate a function with "
                f"@tool, list them in TOOLS = [...], or name one as '{module_name}:attr'"
            )
    return [dataclasses.replace(t, source=source) for t in tools]


def _import(module_name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name or module_name.startswith(f"{e.name}.")):
            raise ToolLoadError(
                f"{what}: there is no module {module_name}; check the spelling, and that its "
                "package is installed in this environment or its directory is on PYTHONPATH"
            ) from e
        raise ToolLoadError(
            f"{what}: importing {module_name} failed, as it needs module {e.name}, which is "
            f"missing; install it in this environment"
        ) from e
    except Exception as e:
        raise ToolLoadError(
            f"{what}: importing {module_name} raised {type(e).__name__}: {e}; fix that module"
        ) from e


def _attribute(module: ModuleType, attr: str, what: str) -> object:
    value: object = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ToolLoadError(
                f"{what}: {module.__name__} has no attribute {attr!r}; check the name after the ':'"
            ) from None
    return value


def _module_tools(module: ModuleType) -> list[Tool]:
    # A module's __dict__ keeps definition order; the same Tool under two names counts once,
    # and so does a SubAgent that the module also made a tool of (agent_tool).
    values = list(vars(module).values())
    made = {id(v.agent) for v in values if isinstance(v, Tool) and v.agent is not None}
    seen: set[int] = set()
    tools: list[Tool] = []
    for value in values:
        if isinstance(value, SubAgent) and id(value) not in made:
            made.add(id(value))
            tools.append(_agent_tool(value, f"module {module.__name__}"))
        if isinstance(value, Tool) and id(value) not in seen:
            seen.add(id(value))
            tools.append(value)
    return tools


def _agent_tool(agent: SubAgent, what: str) -> Tool:
    try:
        return agent_tool(agent)
    except ConfigError as e:
        raise ToolLoadError(f"{what}: {e}") from None


def _as_tools(value: object, what: str, subject: str, *, call: bool = True) -> list[Tool]:
    """The tools `value` stands for; `subject` ("it is", "mypkg.TOOLS is") starts the
    sentence of an error about it."""
    if isinstance(value, Tool):
        return [value]
    if isinstance(value, SubAgent):
        return [_agent_tool(value, what)]
    if isinstance(value, ToolRegistry):
        tools = list(value)
    elif isinstance(value, list | tuple):
        tools = []
        for position, item in enumerate(value):
            if isinstance(item, SubAgent):
                item = _agent_tool(item, what)
            if not isinstance(item, Tool):
                raise ToolLoadError(
                    f"{what}: item {position} is {_kind(item)}, not a Tool; list only Tools "
                    "(decorate functions with @tool)"
                )
            tools.append(item)
    elif call and callable(value):
        return _as_tools(_call(value, what), what, "what it returned is", call=False)
    else:
        raise ToolLoadError(f"{what}: {subject} {_kind(value)}, not tools; give {_ACCEPTED}")
    if not tools:
        raise ToolLoadError(f"{what}: {subject} empty; give at least one tool, or stop loading it")
    return tools


def _call(factory: Any, what: str) -> object:
    try:
        inspect.signature(factory).bind()
    except TypeError:
        raise ToolLoadError(
            f"{what}: it is a function that needs arguments; a tool factory must take none"
        ) from None
    except ValueError:
        pass  # No signature to read (some built-ins): calling it will tell.
    try:
        result: object = factory()
    except Exception as e:
        raise ToolLoadError(
            f"{what}: calling it raised {type(e).__name__}: {e}; fix that function"
        ) from e
    return result


def _kind(value: object) -> str:
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{article} {kind} ({value!r:.60})"


def _distribution(entry_point: metadata.EntryPoint) -> str:
    dist = entry_point.dist
    if dist is None:
        return "unknown distribution"
    return f"{dist.name} {dist.version}"
