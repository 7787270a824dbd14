"""Sub-agents as the model sees them: a tool that takes a task.

A sub-agent is declared as a `SubAgent` (agentic_loop.types), in the workflow input or on the
worker. Either way the model is offered the same tool schema, made here, and its calls never
run as `run_tool` activities: the workflow starts each as a child workflow
(workflow/children.py). A worker's sub-agent is a `Tool` with `agent` set, so it is loaded,
listed and checked for duplicate names like any other tool.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from agentic_loop.config import ConfigError
from agentic_loop.tools.base import Tool, ToolContext, ToolError
from agentic_loop.types import SubAgent

# What the model passes a sub-agent: one task, stated in full, as the sub-agent sees nothing
# of the conversation that called it.
AGENT_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": "What the agent should do, with everything it needs to know: it "
            "does not see this conversation.",
        }
    },
    "required": ["task"],
    "additionalProperties": False,
}

# The tool names OpenAI and Anthropic both accept.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def agent_problem(agent: SubAgent) -> str | None:
    """Why this sub-agent cannot be offered, in a sentence naming it, or None."""
    name = agent.name
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return (
            f"sub-agent name {name!r} is not a tool name: use 1 to 64 letters, digits, '_' "
            "or '-', e.g. 'researcher'"
        )
    if not agent.description.strip():
        return f"sub-agent {name!r} has no description: say what it is for (the model reads it)"
    if agent.max_turns < 1:
        return f"sub-agent {name!r}: max_turns must be at least 1 (got {agent.max_turns})"
    limits = {
        "max_total_tokens": agent.max_total_tokens,
        "max_cost_usd": agent.max_cost_usd,
        "timeout_seconds": agent.timeout_seconds,
    }
    for field, value in limits.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            return f"sub-agent {name!r}: {field} must be a positive number or None (got {value!r})"
    return None


def check_agent(agent: object) -> SubAgent:
    """`agent` if it is a SubAgent that can be offered; ConfigError saying why not."""
    if not isinstance(agent, SubAgent):
        raise ConfigError(f"{agent!r:.60} is not a SubAgent; declare one as SubAgent(name, ...)")
    problem = agent_problem(agent)
    if problem is not None:
        raise ConfigError(problem)
    return agent


def agent_schema(name: str, description: str) -> dict[str, Any]:
    """The sub-agent's tool as the Chat Completions `tools` list expects it."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": AGENT_PARAMETERS},
    }


def agent_tool(agent: SubAgent, *, source: str = "") -> Tool:
    """A worker's sub-agent as a Tool: offered, listed and named like the worker's tools;
    its calls are marked in the LLM turn and run by the workflow as child workflows."""
    check_agent(agent)

    async def not_a_tool_activity(args: dict[str, Any], context: ToolContext) -> str:
        # Reached only by a workflow of code from before sub-agents: say so to its model.
        raise ToolError(f"{agent.name} is a sub-agent: this worker runs it as a child workflow")

    return Tool(
        name=agent.name,
        description=agent.description,
        parameters=AGENT_PARAMETERS,
        run=not_a_tool_activity,
        source=source,
        agent=agent,
    )


def agent_task(arguments: str) -> str | None:
    """The task a call's JSON arguments give, or None when they give none."""
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        return None
    task = args.get("task") if isinstance(args, dict) else None
    return task if isinstance(task, str) and task.strip() else None
