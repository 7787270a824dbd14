"""The real `agentic-loop run` command against a local OpenAI-compatible server: real HTTP
through the real SDK, the embedded Temporal dev server, and no network beyond 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chat_completions_server import ChatCompletionsServer, ReceivedRequest, Reply

API_KEY = "sk-local-test"
GOAL = "What is 12 * 7?"
# Starting the embedded dev server takes a few seconds; a hung run must still end the test.
RUN_DEADLINE_SECONDS = 120
# Kept from the test's environment only if they cannot steer the command elsewhere.
_DROPPED_PREFIXES = ("OPENAI_", "AGENTIC_LOOP_", "TEMPORAL_")
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}

pytestmark = pytest.mark.slow


def run_cli(
    server: ChatCompletionsServer, cwd: Path, *args: str, timeout: float = RUN_DEADLINE_SECONDS
) -> subprocess.CompletedProcess[str]:
    """`agentic-loop run ARGS` with OpenAI pointed at the local server and no Temporal address
    (so it starts its own dev server). AGENTIC_LOOP_LLM is unset: the key alone picks OpenAI."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_DROPPED_PREFIXES) and name.lower() not in _PROXY_VARIABLES
    }
    env.update(
        OPENAI_BASE_URL=server.base_url,
        OPENAI_API_KEY=API_KEY,
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


def tool_messages(request: ReceivedRequest) -> list[dict[str, Any]]:
    return [m for m in request.body["messages"] if m["role"] == "tool"]


@dataclass
class Answered:
    done: subprocess.CompletedProcess[str]
    requests: list[ReceivedRequest]


@pytest.fixture(scope="module")
def answered(tmp_path_factory: pytest.TempPathFactory) -> Answered:
    """One `run --json` against a server that is busy first (429, retry after 2 s), then asks
    for the calculator, fails once (500), then answers; read by the tests below."""
    replies = [
        Reply.fixture("error_429_rate_limit", 429, **{"retry-after": "2"}),
        Reply.fixture("tool_call"),
        Reply.fixture("error_500_server_error", 500),
        Reply.fixture("text_answer"),
    ]
    with ChatCompletionsServer(replies) as server:
        done = run_cli(server, tmp_path_factory.mktemp("run"), "--json", GOAL)
        return Answered(done, server.requests)


def result_of(done: subprocess.CompletedProcess[str]) -> Any:
    """The result object, which is all that `run --json` prints on stdout."""
    return json.loads(done.stdout)


def test_run_answers_through_a_tool_call_and_retries(answered: Answered) -> None:
    """`run --json` answers 84 through the calculator, after retrying a 429 no sooner than its
    retry-after and a 500; the server sees the tool's "84" in the request after the call."""
    assert answered.done.returncode == 0, answered.done.stderr
    result = result_of(answered.done)
    assert result["status"] == "completed"
    assert "84" in result["answer"]
    assert (result["turns"], result["tool_calls"]) == (2, 1)
    assert result["usage"]["total_tokens"] == 104 + 136

    requests = answered.requests
    assert len(requests) == 4
    for request in requests:
        assert request.path == "/v1/chat/completions"
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert request.body["model"] == "gpt-4o-mini"
        assert "calculator" in [t["function"]["name"] for t in request.body["tools"]]
    rate_limited, retried, failed, answered_request = requests
    # Each retry sends the same turn again.
    assert retried.body == rate_limited.body
    assert answered_request.body == failed.body
    # The policy's first back-off is 1 s; waiting at least 2 s shows retry-after was obeyed.
    assert retried.at - rate_limited.at >= 1.9
    assert tool_messages(rate_limited) == []
    assert tool_messages(failed) == [
        {"role": "tool", "tool_call_id": "call_Xk3vPq9LmR2tYw8ZbN4cJd7s", "content": "84"}
    ]


def test_json_output_is_the_result_alone(answered: Answered) -> None:
    """With --json, stdout holds the result object and nothing else, so scripts can parse it."""
    assert json.loads(answered.done.stdout)["status"] == "completed"


@pytest.fixture(scope="module")
def rejected(tmp_path_factory: pytest.TempPathFactory) -> Answered:
    """One human-readable `run` against a server that rejects the key (401) every time."""
    replies = [Reply.fixture("error_401_invalid_api_key", 401)] * 5
    with ChatCompletionsServer(replies) as server:
        # A retried 401 would take 1 + 2 + 4 + 8 s of back-off and five requests.
        done = run_cli(server, tmp_path_factory.mktemp("run"), GOAL, timeout=60)
        return Answered(done, server.requests)


def test_invalid_key_ends_the_run_at_once_naming_the_variable(rejected: Answered) -> None:
    """A 401 ends `run` within seconds after a single request, exit code non-zero, with the
    server's message and a pointer to OPENAI_API_KEY."""
    assert len(rejected.requests) == 1
    assert rejected.done.returncode != 0
    output = rejected.done.stdout + rejected.done.stderr
    assert "Incorrect API key provided" in output
    assert "OPENAI_API_KEY" in output


def test_invalid_key_shows_no_traceback(rejected: Answered) -> None:
    """A person whose key is wrong sees sentences, not a stack trace."""
    assert "Traceback" not in rejected.done.stderr
