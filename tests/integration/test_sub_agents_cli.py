"""Sub-agents through the stock command, against a real dev server: listed by `tools`, shown
in flight by `status`, and their own transcripts read by `transcript --child`."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from cli_support import run_cli
from temporalio.client import Client

from agentic_loop.llm.scripted import ScriptedModels
from agentic_loop.testing import Script
from agentic_loop.tools import agent_tool, default_registry
from agentic_loop.types import SubAgent
from agentic_loop.worker import build_worker
from support import poll_until

AGENTS_MODULE = """
from agentic_loop import SubAgent

researcher = SubAgent(
    name="researcher",
    description="Looks things up and reports what it found.",
    tools=["web_search"],
    model="researcher-model",
    max_turns=4,
)
"""

RESEARCHER = SubAgent(
    name="researcher",
    description="Looks things up.",
    tools=["web_search"],
    model="researcher-model",
)
PARENT = (
    Script()
    .calls("researcher", call_id="r1", task="What is durable execution?")
    .also_calls("researcher", call_id="r2", task="What is Temporal?")
    .expect(role="tool")
    .answers("Both looked up.")
)
CHILD = (
    Script()
    .calls("web_search", query="durable execution", call_id="s1")
    .expect(role="tool")
    .answers("Found it.")
)


@pytest_asyncio.fixture(loop_scope="session")
async def served(client: Client) -> AsyncIterator[dict[str, str]]:
    """A worker whose registry has the researcher sub-agent, with one script per model; the
    CLI's environment for it."""
    queue = f"cli-agents-{uuid.uuid4()}"
    registry = default_registry()
    registry.register(agent_tool(RESEARCHER))
    provider = ScriptedModels(PARENT.llm(), {"researcher-model": CHILD.llm()})
    async with build_worker(client, task_queue=queue, provider=provider, tools=registry):
        yield {
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "AGENTIC_LOOP_TASK_QUEUE": queue,
        }


async def _json(*args: str, env: dict[str, str]) -> Any:
    done = await run_cli(*args, "--json", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def _transcript(*args: str, env: dict[str, str]) -> list[dict[str, Any]]:
    done = await run_cli("transcript", *args, "--json", **env)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def test_status_and_transcript_show_the_sub_agents(served: dict[str, str]) -> None:
    """While two sub-agents wait for approval, `status` names each with its workflow id and
    `transcript --child` reads its own conversation; once they answer, the parent's
    transcript holds their answers only, each naming its sub-agent."""
    started = await _json("start", "--approve-tool", "web_search", "Look both up", env=served)
    parent = started["workflow_id"]
    status = await poll_until(
        lambda: _json("status", parent, env=served),
        lambda s: len(s["agents_running"]) == 2,
        within=30,
        every=0.2,
        what="two sub-agents in flight",
    )
    children = {a["call_id"]: a["workflow_id"] for a in status["agents_running"]}
    text = await run_cli("status", parent, **served)
    assert "r1: researcher(" in text.stdout
    assert f"sub-agent running as {children['r1']}" in text.stdout

    for call_id, child in children.items():
        await poll_until(
            lambda child=child: _json("status", child, env=served),
            lambda s: bool(s["awaiting_approval"]),
            within=30,
            every=0.2,
            what=f"sub-agent {call_id} waiting for approval",
        )
        own = await _transcript(parent, "--child", call_id, env=served)
        assert (own[1]["role"], own[1]["content"]) == ("user", _task(call_id))
        assert own[-1]["tool_calls"][0]["name"] == "web_search"
        approved = await run_cli("approve", child, **served)
        assert approved.returncode == 0, approved.stderr

    result = await _json("result", parent, env=served)
    assert result["status"] == "completed"
    assert result["answer"] == "Both looked up."
    messages = await _transcript(parent, env=served)
    answers = [m for m in messages if m["role"] == "tool"]
    assert [(m["content"], m["agent_workflow_id"]) for m in answers] == [
        ("Found it.", children["r1"]),
        ("Found it.", children["r2"]),
    ]
    assert not any(m["role"] == "tool" and m["name"] == "web_search" for m in messages)
    listing = await run_cli("transcript", parent, **served)
    assert f"Found it. (sub-agent {children['r2']})" in listing.stdout
    after = await _transcript(parent, "--child", "r2", env=served)
    assert after[-1]["content"] == "Found it."


def _task(call_id: str) -> str:
    return {"r1": "What is durable execution?", "r2": "What is Temporal?"}[call_id]


async def test_transcript_child_of_a_call_that_is_not_there_is_one_line(
    served: dict[str, str],
) -> None:
    """`transcript --child` naming no call of the workflow: exit 2, one line, no traceback."""
    started = await _json("start", "--approve-tool", "web_search", "Look both up", env=served)
    done = await run_cli("transcript", started["workflow_id"], "--child", "nope", **served)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "has no tool call 'nope'" in line
    await run_cli("cancel", started["workflow_id"], **served)


@pytest.fixture
def agents_module(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A module of the user's declaring a sub-agent, importable through PYTHONPATH."""
    (tmp_path / "my_sub_agents.py").write_text(textwrap.dedent(AGENTS_MODULE), encoding="utf-8")
    (tmp_path / "bad_sub_agents.py").write_text(
        "from agentic_loop import SubAgent\nbad = SubAgent(name='two words', description='x')\n",
        encoding="utf-8",
    )
    return "my_sub_agents", {"PYTHONPATH": str(tmp_path)}


async def test_tools_lists_a_modules_sub_agent_with_the_tools(
    agents_module: tuple[str, dict[str, str]],
) -> None:
    """`tools --tools MOD` lists a SubAgent the module declares beside the built-ins, as a
    sub-agent taking a task, with its model and limits."""
    module, env = agents_module
    rows = {
        row["name"]: row
        for row in map(
            json.loads,
            (await run_cli("tools", "--tools", module, "--json", **env)).stdout.splitlines(),
        )
    }
    assert rows["calculator"]["agent"] is None
    assert rows["researcher"]["agent"]["model"] == "researcher-model"
    assert rows["researcher"]["parameters"]["required"] == ["task"]
    text = await run_cli("tools", "--tools", module, **env)
    assert text.returncode == 0, text.stderr
    assert (
        "researcher(task) [sub-agent: model researcher-model, max 4 turns, tools: web_search]"
        f"  from module {module}"
    ) in text.stdout


async def test_a_bad_sub_agent_in_a_module_is_one_line(
    agents_module: tuple[str, dict[str, str]],
) -> None:
    """A SubAgent whose name is no tool name stops `tools` with exit 2 and one line naming it."""
    _, env = agents_module
    done = await run_cli("tools", "--tools", "bad_sub_agents", **env)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "'two words' is not a tool name" in line
