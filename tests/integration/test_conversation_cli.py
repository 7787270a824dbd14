"""The conversation commands as a person runs them, against a real dev server."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from cli_support import run_cli
from temporalio.client import Client

from agentic_loop.llm.rule_based import RuleBasedLLM
from agentic_loop.worker import build_worker
from support import poll_until


@pytest_asyncio.fixture(loop_scope="session")
async def served(client: Client) -> AsyncIterator[dict[str, str]]:
    """A worker with the rule-based LLM on a fresh task queue; the CLI's environment for it."""
    queue = f"cli-chat-{uuid.uuid4()}"
    worker = build_worker(client, task_queue=queue, provider=RuleBasedLLM())
    async with worker:
        yield {
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "AGENTIC_LOOP_TASK_QUEUE": queue,
        }


async def _json(*args: str, env: dict[str, str]) -> Any:
    done = await run_cli(*args, "--json", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def _until_phase(workflow_id: str, phase: str, env: dict[str, str]) -> Any:
    return await poll_until(
        lambda: _json("status", workflow_id, env=env),
        lambda status: status["phase"] == phase,
        within=30,
        every=0.2,
        what=f"phase {phase!r}",
    )


async def test_a_conversation_driven_command_by_command(served: dict[str, str]) -> None:
    """start --chat, send (with its answer), status, approve, reject, transcript and end each
    do their part on one conversation."""
    started = await _json(
        "start", "--chat", "--approve-tool", "web_search", "What is 12 * 7?", env=served
    )
    workflow_id = started["workflow_id"]
    status = await _until_phase(workflow_id, "waiting for the user", served)
    assert status["requests"] == 1
    reply = await _json("send", workflow_id, "and plus 16?", env=served)
    assert "100" in reply["answer"]

    asked = await run_cli(
        "send", workflow_id, "Search for durable execution", "--no-wait", **served
    )
    assert asked.returncode == 0, asked.stderr
    waiting = await _until_phase(workflow_id, "waiting for approval", served)
    [call] = waiting["awaiting_approval"]
    assert call["name"] == "web_search"
    assert (await _json("approve", workflow_id, env=served)) == {"approved": [call["id"]]}
    await _until_phase(workflow_id, "waiting for the user", served)

    await run_cli("send", workflow_id, "Search for Temporal retries", "--no-wait", **served)
    await _until_phase(workflow_id, "waiting for approval", served)
    rejected = await run_cli("reject", workflow_id, "--reason", "not today", **served)
    assert rejected.returncode == 0, rejected.stderr
    await _until_phase(workflow_id, "waiting for the user", served)

    listing = await run_cli("transcript", workflow_id, "--json", **served)
    messages = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [m["content"] for m in messages if m["role"] == "approval"] == [
        "approved by user",
        "rejected by user: not today",
    ]
    assert [m["index"] for m in messages] == list(range(len(messages)))
    window = await run_cli("transcript", workflow_id, "--from", "1", "--to", "3", **served)
    assert len(window.stdout.splitlines()) == 2

    assert (await run_cli("end", workflow_id, **served)).returncode == 0
    result = await _json("result", workflow_id, env=served)
    assert result["status"] == "ended"
    assert result["requests"] == 4


async def test_cancel_ends_a_conversation_with_status_cancelled(served: dict[str, str]) -> None:
    """`cancel` stops a waiting conversation; its result says cancelled, exit code 1."""
    workflow_id = (await _json("start", "--chat", "What is 1 + 1?", env=served))["workflow_id"]
    await _until_phase(workflow_id, "waiting for the user", served)
    assert (await run_cli("cancel", workflow_id, **served)).returncode == 0
    done = await run_cli("result", workflow_id, "--json", **served)
    assert done.returncode == 1  # an ending that is neither a reached goal nor an `end`
    assert json.loads(done.stdout)["status"] == "cancelled"


async def test_refusals_are_one_line_errors(served: dict[str, str]) -> None:
    """Approving with nothing waiting, messaging a one-shot run or an unknown id: a sentence,
    exit 2, no traceback."""
    one_shot = (await _json("start", "--approve-tool", "web_search", "Search for Temporal",
                            env=served))["workflow_id"]  # fmt: skip
    await _until_phase(one_shot, "waiting for approval", served)
    refused = await run_cli("send", one_shot, "more", **served)
    assert (refused.returncode, "not a conversation" in refused.stderr) == (2, True)
    await run_cli("approve", one_shot, **served)
    nothing = await run_cli("approve", one_shot, **served)
    assert nothing.returncode == 2
    assert "Traceback" not in nothing.stderr
    unknown = await run_cli("status", "no-such-conversation", **served)
    assert unknown.returncode == 2
    assert "no-such-conversation" in unknown.stderr


async def test_interactive_chat_through_stdin() -> None:
    """`agentic-loop chat` reads messages and approval answers from stdin and ends on /end."""
    lines = "What is 12 * 7?\nand plus 16?\nSearch for Temporal retries\nn not now\n/end\n"
    done = await run_cli("chat", "--json", stdin=lines, AGENTIC_LOOP_APPROVAL_TOOLS="web_search")
    assert done.returncode == 0, done.stderr
    # With --json the conversation goes to stderr and the result alone to stdout.
    assert "agent> 12 * 7 = 84" in done.stderr
    assert "agent> 84 + 16 = 100" in done.stderr
    assert "Approve web_search: Temporal retries?" in done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["requests"]) == ("ended", 3)
    assert "not now" in result["answer"]
