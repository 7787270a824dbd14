"""`@tool`: a typed Python function, sync or async, becomes a Tool.

The type hints give the JSON schema (through pydantic) and the validation of the model's
arguments; the docstring gives the descriptions. A parameter annotated `ToolContext` gets the
call's context and is not shown to the model.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
from collections.abc import Callable
from typing import Any, overload

from pydantic_core import PydanticSerializationError, to_jsonable_python

from agentic_loop.tools.arguments import ToolArguments
from agentic_loop.tools.base import Tool, ToolContext
from agentic_loop.tools.docstrings import parse_docstring

# What the Chat Completions API accepts as a function name.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@overload
def tool(
    func: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    pure: bool = False,
    timeout_seconds: float | None = None,
    approval: bool = False,
) -> Tool: ...


@overload
def tool(
    func: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    pure: bool = False,
    timeout_seconds: float | None = None,
    approval: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    pure: bool = False,
    timeout_seconds: float | None = None,
    approval: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a Tool of a typed function: `@tool`, or `@tool(name=..., ...)` with options.

    Args:
        func: The function; its parameters all need type hints.
        name: The name the model calls it by; the function's name by default.
        description: What it does, for the model; the docstring's text before its sections
            by default.
        pure: Fast, deterministic and without side effects, so it may run inline.
        timeout_seconds: Its own limit on one call; None leaves it to the worker's default.
        approval: Its calls wait for a person's approval before they run.
    """

    def build(function: Callable[..., Any]) -> Tool:
        return _build(
            function,
            name=name,
            description=description,
            pure=pure,
            timeout_seconds=timeout_seconds,
            approval=approval,
        )

    if func is None:
        return build
    return build(func)


def _build(
    func: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    pure: bool,
    timeout_seconds: float | None,
    approval: bool,
) -> Tool:
    if isinstance(func, str):
        raise TypeError(
            f"@tool({func!r}) passes the name where the function belongs; "
            f"write @tool(name={func!r})"
        )
    if isinstance(func, Tool):
        raise TypeError(f"{func.name!r} is already a Tool; apply @tool once")
    if not callable(func):
        raise TypeError(
            f"@tool makes a tool of a function, but got {func!r} ({type(func).__name__}); "
            "decorate a def or async def"
        )
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(
            f"@tool cannot use {_label(func)}: it yields, and a tool returns one result; "
            "return a str or a JSON-able value instead"
        )
    tool_name = name if name is not None else getattr(func, "__name__", None)
    if tool_name is None:
        raise TypeError(f"{func!r} has no __name__; give the tool one with @tool(name=...)")
    if not _TOOL_NAME.fullmatch(tool_name):
        raise ValueError(
            f"tool name {tool_name!r} is not one the model can call: use 1-64 letters, digits, "
            "'_' or '-' (@tool(name=...))"
        )
    try:
        signature = inspect.signature(func, eval_str=True)
    except (NameError, SyntaxError) as e:
        raise TypeError(
            f"tool {tool_name!r}: the type hints of {_label(func)} cannot be resolved ({e}); "
            "define the types they name at module level, or import them there"
        ) from e
    except ValueError as e:
        raise TypeError(
            f"tool {tool_name!r}: {_label(func)} has no signature to read ({e}); wrap it in a "
            "def with typed parameters"
        ) from e
    doc = parse_docstring(_docstring(func))
    arguments = ToolArguments(tool_name, signature, doc.arguments)
    is_async = _is_async(func)

    async def run(args: dict[str, Any], context: ToolContext) -> str:
        positional, keywords = arguments.bind(args, context)
        if is_async:
            result = await func(*positional, **keywords)
        else:
            # In a thread, so a slow sync tool cannot stall the event loop, and with it the
            # activity's heartbeats.
            result = await asyncio.to_thread(func, *positional, **keywords)
            if inspect.isawaitable(result):
                result = await result
        return _encode(tool_name, result)

    return Tool(
        name=tool_name,
        description=description if description is not None else doc.description,
        parameters=arguments.schema,
        run=run,
        pure=pure,
        timeout_seconds=timeout_seconds,
        approval=approval,
        function=func,
    )


def _encode(tool_name: str, result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        data = to_jsonable_python(result)
    except PydanticSerializationError as e:
        # A fault of the tool's code, not of the model's call: raised, not returned.
        raise TypeError(
            f"tool {tool_name!r} returned a {type(result).__name__}, which cannot be encoded as "
            f"JSON ({e}); return a str, or data pydantic can serialize"
        ) from e
    return json.dumps(data, ensure_ascii=False)


def _is_async(func: Callable[..., Any]) -> bool:
    # A callable object with an async __call__ is as async as an async def.
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - the method itself is wanted, not a test
    )


def _docstring(func: Callable[..., Any]) -> str | None:
    # A partial's own __doc__ describes functools.partial, not the tool.
    target = func.func if isinstance(func, functools.partial) else func
    doc = getattr(target, "__doc__", None)
    return doc if isinstance(doc, str) else None


def _label(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)
