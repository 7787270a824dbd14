"""Encrypted history on the dev server: what the server keeps, and who can read it back."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from agentic_loop.temporal.codec import generate_key
from agentic_loop.temporal.codec_server import make_server
from agentic_loop.temporal.connection import connect_client
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.temporal.plugin import replayer as plugin_replayer
from agentic_loop.types import AgentStatus
from production_support import (
    SEED_ANSWER_WORDS,
    SEED_GOAL,
    dev_address,
    dev_server,
    readable_history,
    run_seed,
    settings_for,
)

OLD_KEY = f"2025-12:{generate_key()}"
NEW_KEY = f"2026-06:{generate_key()}"
# Words of the conversation that must not be readable on the server.
PLAINTEXTS = [SEED_GOAL, "5 + 3", SEED_ANSWER_WORDS, "calculator"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server() as env:
        yield env


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def old_history(dev_env: WorkflowEnvironment) -> WorkflowHistory:
    """The seed's run, recorded under OLD_KEY only."""
    client = await connect_client(
        settings_for(dev_address(dev_env), AGENTIC_LOOP_CODEC_KEYS=OLD_KEY)
    )
    result, handle = await run_seed(client)
    assert result.status == AgentStatus.COMPLETED
    return await handle.fetch_history()


def _leaks(history: WorkflowHistory) -> list[str]:
    text = readable_history(history.to_json())
    return [p for p in PLAINTEXTS if p in text]


async def test_history_on_the_server_holds_no_plaintext(old_history: WorkflowHistory) -> None:
    """With a key configured, nothing of the goal, tool call or answer is readable in the
    history the server keeps, not even inside the base64 of payload data."""
    assert _leaks(old_history) == []
    assert "binary/encrypted" in readable_history(old_history.to_json())


async def test_without_keys_the_same_check_finds_the_conversation(
    dev_env: WorkflowEnvironment,
) -> None:
    """The plaintext check is real: without a key the same history shows the conversation."""
    client = await connect_client(settings_for(dev_address(dev_env)))
    _, handle = await run_seed(client)
    assert _leaks(await handle.fetch_history()) == PLAINTEXTS


async def test_the_client_with_the_key_reads_the_answer(dev_env: WorkflowEnvironment) -> None:
    """A client holding the key gets the plaintext result back from the encrypted run."""
    client = await connect_client(
        settings_for(dev_address(dev_env), AGENTIC_LOOP_CODEC_KEYS=OLD_KEY)
    )
    result, _ = await run_seed(client)
    assert SEED_ANSWER_WORDS in result.answer
    assert result.status == AgentStatus.COMPLETED


async def test_replayer_with_the_key_replays_the_history(old_history: WorkflowHistory) -> None:
    """The Replayer, given the worker's converter with the key, replays the encrypted run."""
    settings = settings_for("unused:1", AGENTIC_LOOP_CODEC_KEYS=OLD_KEY)
    replayer = plugin_replayer(AgentLoopPlugin(settings))
    result = await replayer.replay_workflow(old_history)
    assert result.replay_failure is None


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param("", "AGENTIC_LOOP_CODEC_KEYS is not set", id="no-key"),
        pytest.param(NEW_KEY, "which AGENTIC_LOOP_CODEC_KEYS does not list", id="other-key"),
        pytest.param(f"2025-12:{generate_key()}", "the key material is wrong", id="wrong-material"),
    ],
)
async def test_replay_without_the_right_key_fails_clearly(
    old_history: WorkflowHistory, keys: str, expected: str
) -> None:
    """Replaying with no key, another key, or wrong material for the id fails, and the
    error names the key id it needs instead of the SDK's "Unknown payload encoding"."""
    settings = settings_for("unused:1", AGENTIC_LOOP_CODEC_KEYS=keys)
    replayer = plugin_replayer(AgentLoopPlugin(settings))
    with pytest.raises(RuntimeError) as caught:
        await replayer.replay_workflow(old_history)
    message = _messages(caught.value)
    assert expected in message
    assert "'2025-12'" in message


def _messages(error: BaseException | None) -> str:
    parts = []
    while error is not None:
        parts.append(str(error))
        error = error.__cause__ or error.__context__
    return " | ".join(parts)


async def test_rotation_keeps_old_histories_readable(
    dev_env: WorkflowEnvironment, old_history: WorkflowHistory
) -> None:
    """After rotation (new key first, old still listed) new runs are sealed with the new
    key, and the history sealed with the old key still replays."""
    rotated = settings_for(dev_address(dev_env), AGENTIC_LOOP_CODEC_KEYS=f"{NEW_KEY},{OLD_KEY}")
    replayer = plugin_replayer(AgentLoopPlugin(rotated))
    assert (await replayer.replay_workflow(old_history)).replay_failure is None

    client = await connect_client(rotated)
    result, handle = await run_seed(client)
    assert result.status == AgentStatus.COMPLETED
    text = readable_history((await handle.fetch_history()).to_json())
    assert "2026-06" in text
    assert "2025-12" not in text


def _post(url: str, body: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


async def test_codec_server_opens_a_recorded_payload_with_the_token(
    old_history: WorkflowHistory,
) -> None:
    """The codec server turns the recorded (sealed) workflow input back into the goal for a
    caller with the token, and refuses a caller without it."""
    started = old_history.events[0].workflow_execution_started_event_attributes
    sealed = json.loads(
        json.dumps({"payloads": [_payload_json(p) for p in started.input.payloads]})
    )
    settings = settings_for(
        "unused:1", AGENTIC_LOOP_CODEC_KEYS=OLD_KEY, AGENTIC_LOOP_CODEC_TOKEN="t0ken-for-tests"
    )
    server = make_server(settings, port=0)
    server.start_in_thread()
    try:
        status, refused = _post(f"{server.url}/decode", sealed, token=None)
        assert status == 401, refused
        status, opened = _post(f"{server.url}/decode", sealed, token="t0ken-for-tests")
        assert status == 200, opened
    finally:
        server.shutdown()
        server.server_close()
    import base64

    data = base64.b64decode(opened["payloads"][0]["data"]).decode()
    assert SEED_GOAL in json.loads(data)["goal"]


def _payload_json(payload: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    result: dict[str, Any] = json_format.MessageToDict(payload)
    return result
