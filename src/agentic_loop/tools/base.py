"""What a tool is: a name, a description, a JSON schema and an async function of a dict.

This is the low-level form. Most tools are written with `@tool` (decorator.py), which builds
one of these from a typed function; tools from elsewhere (an MCP server) are built by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentic_loop.types import SubAgent

if TYPE_CHECKING:
    from agentic_loop.tools.registry import ToolRegistry as ToolRegistry


class ToolError(Exception):
    """A tool's refusal. It goes back to the LLM as an error result, which it can correct;
    any other exception is an infrastructure fault and is retried by Temporal."""


@dataclass(frozen=True)
class ToolContext:
    workflow_id: str
    # Stable across retries and worker crashes: use it to deduplicate side effects.
    idempotency_key: str


ToolFunction = Callable[[dict[str, Any], ToolContext], Awaitable[str]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    # JSON schema of the arguments object, as OpenAI function tools take it.
    parameters: dict[str, Any]
    # Gets the arguments as decoded from the model's JSON, already known to be an object, and
    # checks the rest itself: a hand-built tool (or the MCP server behind it) validates its
    # own arguments; one built by @tool does so with pydantic.
    run: ToolFunction
    # Fast (well under a second), deterministic and without side effects: the LLM activity
    # may then run its calls itself when the workflow input lists it in `inline_tools`. The
    # input asks; this flag, set by whoever registers the tool on the worker, decides.
    pure: bool = False
    # The tool's own limit on one call, for a tool known to be slower (or faster) than the
    # worker's default; None leaves the call to that default.
    timeout_seconds: float | None = None
    # Its calls wait for a person's approve/reject before they run.
    approval: bool = False
    # Where the worker found it ("built-in", "module mypkg.tools", "entry point ..."), so
    # `agentic-loop tools` and the duplicate-name error can say; set by the loader.
    source: str = ""
    # The function @tool made this tool of, as written: a user's unit test calls it directly
    # (with a ToolContext of its own where it takes one). None for a hand-built tool.
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    # Set for a sub-agent offered by the worker (tools/agents.py): its calls run as child
    # workflows, never as `run_tool` activities.
    agent: SubAgent | None = None
    # Its name, description and schema come from outside this program (an MCP server's
    # list) and may change while a run goes on: each run records them once (its tool
    # catalog, tools/catalog.py) and the model is shown that copy on every turn.
    external: bool = False

    def __post_init__(self) -> None:
        if self.timeout_seconds is not None and not self.timeout_seconds > 0:
            raise ValueError(
                f"tool {self.name!r}: timeout_seconds must be a positive number of seconds "
                f"(got {self.timeout_seconds!r}); use None for no limit of its own"
            )

    def schema(self) -> dict[str, Any]:
        """The tool as the Chat Completions `tools` list expects it."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }
