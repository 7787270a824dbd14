"""A user's own tools and provider through the stock command, as a real process: nothing of
agentic-loop is forked or edited."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from cli_support import run_cli

SCRIPTS = Path(__file__).resolve().parents[2] / "fixtures" / "scripts"
FAILOVER_SCRIPTS = ("failover_primary.json", "failover_fallback.json")

USER_MODULE = '''
from agentic_loop import LLMTurn, ToolCall, ToolContext, tool

ledger = []


@tool
def shout(text: str, ctx: ToolContext) -> str:
    """Say it louder.

    Args:
        text: What to say.
    """
    return text.upper() + "!"


@tool(pure=True)
def calculator(expression: str) -> str:
    """A second calculator, to clash with the built-in one."""
    return "0"


TOOLS = [shout]
CLASH = [calculator]


class Parrot:
    """A provider of the user's own: asks for `shout` once, then answers with its result."""

    name = "parrot"
    default_model = "parrot-1"

    async def complete(self, request):
        last = request.messages[-1]
        if last.role == "tool":
            return LLMTurn(content=f"The parrot says {last.content}", model="parrot-1")
        call = ToolCall(id="p1", name="shout", arguments='{"text": "hello"}')
        return LLMTurn(tool_calls=[call], finish_reason="tool_calls", model="parrot-1")


def make(settings):
    return Parrot()
'''


@pytest.fixture
def user_module(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A module of the user's, importable by the command through PYTHONPATH."""
    (tmp_path / "my_agent_tools.py").write_text(textwrap.dedent(USER_MODULE), encoding="utf-8")
    return "my_agent_tools", {"PYTHONPATH": str(tmp_path)}


async def test_tools_lists_builtins_and_a_users_module(
    user_module: tuple[str, dict[str, str]],
) -> None:
    """`agentic-loop tools --tools MOD --json` lists the built-ins and the module's tool,
    each with where it came from and the schema the model is shown."""
    module, env = user_module
    done = await run_cli("tools", "--tools", module, "--json", **env)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert rows["calculator"]["source"] == "built-in"
    assert rows["calculator"]["pure"] is True
    assert rows["shout"]["source"] == f"module {module}"
    assert rows["shout"]["parameters"]["properties"]["text"]["description"] == "What to say."
    assert "ctx" not in rows["shout"]["parameters"]["properties"]


async def test_a_tool_name_offered_twice_is_one_line_naming_both_sources(
    user_module: tuple[str, dict[str, str]],
) -> None:
    """A user's `calculator` beside the built-in one stops the worker command before it
    connects: exit 2, one line naming both sources, no traceback."""
    module, env = user_module
    done = await run_cli("worker", "--tools", f"{module}:CLASH", **env)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "'calculator' is offered twice" in line
    assert "built-in" in line
    assert f"module {module}:CLASH" in line


async def test_run_serves_the_users_tools_to_the_users_provider(
    user_module: tuple[str, dict[str, str]],
) -> None:
    """`run --tools MOD` with `AGENTIC_LOOP_LLM=MOD:make` reaches its answer through the user's
    provider calling the user's tool, on the embedded server."""
    module, env = user_module
    done = await run_cli(
        "run", "--tools", module, "--json", "say hello", AGENTIC_LOOP_LLM=f"{module}:make", **env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert result["answer"] == "The parrot says HELLO!"
    assert result["tool_calls"] == 1


async def test_an_unknown_tools_module_is_one_line(tmp_path: Path) -> None:
    """`--tools` naming a module that does not exist is a one-line error, exit 2."""
    done = await run_cli("tools", "--tools", "no_such_module_xyz")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "no_such_module_xyz" in done.stderr


async def test_run_fails_over_between_providers_and_says_what_it_cost(tmp_path: Path) -> None:
    """AGENTIC_LOOP_LLM naming two providers: the first (scripted, always 503) gives way to
    the second on its third attempt, and the summary names the move and the run's price
    (from AGENTIC_LOOP_PRICES)."""
    chain = ",".join(f"scripted:{SCRIPTS / name}" for name in FAILOVER_SCRIPTS)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"script": {"input": 1000.0, "output": 1000.0}}))
    done = await run_cli(
        "run", "What is 5 + 3?", AGENTIC_LOOP_LLM=chain, AGENTIC_LOOP_PRICES=str(prices)
    )
    assert done.returncode == 0, done.stderr
    assert "5 + 3 = 8." in done.stdout
    assert "[failover] turn 1: scripted:" in done.stdout
    assert "failover_fallback.json" in done.stdout
    assert "$" in done.stdout.split("[completed]")[1]
