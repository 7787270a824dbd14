"""The real `agentic-loop run` command against a local Messages API server: real HTTP through
the real anthropic SDK, the embedded Temporal dev server, and no network beyond 127.0.0.1.

The server plays recorded bodies adapted to the seed's example (fixtures/anthropic/README.md):
a calculator tool_use for "5 + 3", then a Korean answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from messages_server import MessagesServer, ReceivedRequest, Reply

from agentic_loop.config import DEFAULT_ANTHROPIC_MODEL, DEFAULT_GOAL

API_KEY = "sk-ant-local-test-4c1e9b7aTOPSECRET"
# Starting the embedded dev server takes a few seconds; a hung run must still end the test.
RUN_DEADLINE_SECONDS = 120
# Kept from the test's environment only if they cannot steer the command elsewhere.
_DROPPED_PREFIXES = ("OPENAI_", "ANTHROPIC_", "AGENTIC_LOOP_", "TEMPORAL_")
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}

pytestmark = pytest.mark.slow


def run_cli(
    server: MessagesServer, cwd: Path, *args: str, timeout: float = RUN_DEADLINE_SECONDS
) -> subprocess.CompletedProcess[str]:
    """`agentic-loop run ARGS` with Anthropic pointed at the local server and no Temporal
    address (so it starts its own dev server). No OpenAI key and AGENTIC_LOOP_LLM unset: the
    Anthropic key alone picks Anthropic."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_DROPPED_PREFIXES) and name.lower() not in _PROXY_VARIABLES
    }
    env.update(
        ANTHROPIC_BASE_URL=server.base_url,
        ANTHROPIC_API_KEY=API_KEY,
        NO_PROXY="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return subprocess.run(
        [sys.executable, "-m", "agentic_loop.cli", "run", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tool_results(request: ReceivedRequest) -> list[dict[str, Any]]:
    return [
        block
        for message in request.body["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
        if block["type"] == "tool_result"
    ]


@dataclass
class Answered:
    done: subprocess.CompletedProcess[str]
    requests: list[ReceivedRequest]


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Answered:
    """One `run --json` with no goal (the seed's Korean example) against a server that is
    overloaded first (529, retry after 2 s), then asks for the calculator, then answers."""
    replies = [
        Reply.fixture(
            "error_529_overloaded", 529, **{"retry-after": "2", "x-should-retry": "true"}
        ),
        Reply.fixture("seed_tool_use"),
        Reply.fixture("seed_answer"),
    ]
    with MessagesServer(replies) as server:
        done = run_cli(server, tmp_path_factory.mktemp("run"), "--json")
        return Answered(done, server.requests)


def test_seed_example_answers_8_through_the_calculator(seed: Answered) -> None:
    """`run --json` with no goal completes the Korean example on Anthropic: the answer holds
    8, the calculator ran once, and the overloaded 529 was retried no sooner than its
    retry-after."""
    assert seed.done.returncode == 0, seed.done.stderr
    # The last line: a line the Temporal core logs to stdout may precede the result.
    result = json.loads(seed.done.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    assert "8" in result["answer"]
    assert (result["turns"], result["tool_calls"]) == (2, 1)
    assert result["usage"]["total_tokens"] == (557 + 55) + (636 + 88)

    overloaded, asked, answered = seed.requests
    # The policy's first back-off is 1 s; waiting at least 2 s shows retry-after was obeyed.
    assert asked.at - overloaded.at >= 1.9
    assert asked.body == overloaded.body
    for request in seed.requests:
        assert request.path.partition("?")[0] == "/v1/messages"
        assert request.body["model"] == DEFAULT_ANTHROPIC_MODEL
        assert request.body["max_tokens"] > 0
        assert "calculator" in [tool["name"] for tool in request.body["tools"]]
        # x-api-key, or Authorization: Bearer as anthropic 2.15 sends it.
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        assert API_KEY in (request.headers.get("x-api-key"), bearer)
    assert asked.body["messages"][0]["content"] == [{"type": "text", "text": DEFAULT_GOAL}]
    assert tool_results(asked) == []
    assert tool_results(answered) == [
        {"type": "tool_result", "tool_use_id": "toolu_01A73Ko8diCmNfpop86iruFS", "content": "8"}
    ]


@pytest.fixture(scope="module")
def rejected(tmp_path_factory: pytest.TempPathFactory) -> Answered:
    """One human-readable `run` against a server that rejects the key (401) every time."""
    replies = [Reply.fixture("error_401_authentication", 401)] * 5
    with MessagesServer(replies) as server:
        # A retried 401 would take 1 + 2 + 4 + 8 s of back-off and five requests.
        done = run_cli(server, tmp_path_factory.mktemp("run"), timeout=60)
        return Answered(done, server.requests)


def test_invalid_key_ends_the_run_at_once_naming_the_variable(rejected: Answered) -> None:
    """A 401 ends `run` after a single request, exit code non-zero, with the API's message,
    a pointer to ANTHROPIC_API_KEY, no traceback and no key."""
    assert len(rejected.requests) == 1
    assert rejected.done.returncode != 0
    output = rejected.done.stdout + rejected.done.stderr
    assert "invalid x-api-key" in output
    assert "ANTHROPIC_API_KEY" in output
    assert "Traceback" not in rejected.done.stderr
    assert API_KEY not in output
