"""Payloads over Temporal's limits on the real dev server: a 10 MB tool result and a 1 MB model
reply complete, kept outside history (a directory, or S3 on a loopback moto server)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from cli_support import run_cli
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from agentic_loop.llm.base import CompletionRequest
from agentic_loop.temporal.codec import generate_key
from agentic_loop.temporal.connection import connect_client
from agentic_loop.temporal.payload_store import PayloadStoreError
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.temporal.plugin import replayer as plugin_replayer
from agentic_loop.tools import ToolRegistry, tool
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import AgentInput, AgentStatus, LLMTurn, ToolCall
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from production_support import dev_address, dev_server, settings_for

TOOL_RESULT_BYTES = 10 * 1024 * 1024
REPLY_BYTES = 1024 * 1024
# Far under Temporal's limits (2 MB a payload, 50 MB a history): only references are in it.
HISTORY_BUDGET = 256 * 1024


def ten_megabytes() -> str:
    return "".join(f"line {i:07d}\n" for i in range(TOOL_RESULT_BYTES // 13 + 1))[
        :TOOL_RESULT_BYTES
    ]


@tool(name="dump")
def dump() -> str:
    """Returns a 10 MB text."""
    return ten_megabytes()


class BigReplies:
    """Asks for the dump, then answers with 1 MB; remembers what it was shown."""

    def __init__(self) -> None:
        self.shown: list[CompletionRequest] = []

    @property
    def name(self) -> str:
        return "big"

    @property
    def default_model(self) -> str:
        return "big-1"

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        self.shown.append(request)
        if not any(m.role == "tool" for m in request.messages):
            return LLMTurn(
                tool_calls=[ToolCall(id="call-1", name="dump", arguments="{}")],
                finish_reason="tool_calls",
            )
        return LLMTurn(content="A" * REPLY_BYTES)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server() as env:
        yield env


async def _run_big(client: Client) -> tuple[Any, str, BigReplies]:
    provider = BigReplies()
    task_queue = f"tq-{uuid.uuid4()}"
    worker = build_worker(
        client, task_queue=task_queue, provider=provider, tools=ToolRegistry([dump])
    )
    async with worker:
        handle = await client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="dump it", tools=["dump"]),
            id=f"big-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
    return result, handle.id, provider


def _history_bytes(history: WorkflowHistory) -> int:
    return len(history.to_json())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def local_run(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Client, Any, str, BigReplies, Path]:
    store = tmp_path_factory.mktemp("payloads")
    client = await connect_client(
        settings_for(dev_address(dev_env), AGENTIC_LOOP_PAYLOAD_STORE=str(store))
    )
    result, workflow_id, provider = await _run_big(client)
    return client, result, workflow_id, provider, store


async def test_a_10_mb_tool_result_and_a_1_mb_reply_complete(local_run: Any) -> None:
    """A run whose tool returns 10 MB and whose model replies 1 MB completes with that reply."""
    _, result, _, _, _ = local_run
    assert result.status == AgentStatus.COMPLETED
    assert result.answer == "A" * REPLY_BYTES


async def test_the_model_is_shown_the_result_cut_with_a_note(local_run: Any) -> None:
    """The model's second request holds 64 KB of the tool result and a note of the rest."""
    _, _, _, provider, _ = local_run
    [tool_message] = [m for m in provider.shown[-1].messages if m.role == "tool"]
    assert len(tool_message.content.encode()) < 65 * 1024
    assert f"[... {TOOL_RESULT_BYTES - 64 * 1024:,} more bytes" in tool_message.content


async def test_the_transcript_keeps_the_whole_result(local_run: Any) -> None:
    """read_transcript of the closed run returns the tool's 10 MB and the 1 MB reply whole."""
    client, _, workflow_id, _, _ = local_run
    messages = await read_transcript(client, workflow_id)
    [tool_message] = [m for m in messages if m.role == "tool"]
    assert tool_message.content == ten_megabytes()
    assert messages[-1].content == "A" * REPLY_BYTES


async def test_history_holds_references_and_stays_small(local_run: Any) -> None:
    """The server's history is far under Temporal's limits, the payloads are in the store."""
    client, _, workflow_id, _, store = local_run
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    assert _history_bytes(history) < HISTORY_BUDGET
    assert "external-storage" in history.to_json() or "ExternalStorageReference" in (
        history.to_json()
    )
    assert sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) > TOOL_RESULT_BYTES


async def test_the_history_replays(local_run: Any, dev_env: WorkflowEnvironment) -> None:
    """The Replayer of a plugin with the same store judges the history deterministic."""
    client, _, workflow_id, _, store = local_run
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    plugin = AgentLoopPlugin(
        settings_for(dev_address(dev_env), AGENTIC_LOOP_PAYLOAD_STORE=str(store))
    )
    result = await plugin_replayer(plugin).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_the_transcript_command_prints_the_whole_result(
    local_run: Any, dev_env: WorkflowEnvironment
) -> None:
    """`agentic-loop transcript --json` prints the tool message with all its 10 MB."""
    _, _, workflow_id, _, store = local_run
    done = await run_cli(
        "transcript",
        "--json",
        workflow_id,
        TEMPORAL_ADDRESS=dev_address(dev_env),
        AGENTIC_LOOP_PAYLOAD_STORE=str(store),
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    [tool_row] = [r for r in rows if r.get("role") == "tool"]
    assert len(tool_row["content"]) == TOOL_RESULT_BYTES


async def test_a_missing_object_is_a_clear_error(
    local_run: Any, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Reading the run with an empty store raises PayloadStoreError naming the hash and the
    store; the command says so on one line with exit code 2."""
    _, _, workflow_id, _, _ = local_run
    empty = tmp_path / "empty"
    empty.mkdir()
    other = await connect_client(
        settings_for(dev_address(dev_env), AGENTIC_LOOP_PAYLOAD_STORE=str(empty))
    )
    with pytest.raises(Exception) as raised:
        await read_transcript(other, workflow_id)
    error = _payload_store_error(raised.value)
    assert error is not None, repr(raised.value)
    assert "sha256:" in error.message and str(empty) in error.message
    done = await run_cli(
        "transcript",
        workflow_id,
        TEMPORAL_ADDRESS=dev_address(dev_env),
        AGENTIC_LOOP_PAYLOAD_STORE=str(empty),
    )
    assert done.returncode == 2, done.stderr
    assert "missing from the payload store" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def _payload_store_error(error: BaseException | None) -> PayloadStoreError | None:
    while error is not None:
        if isinstance(error, PayloadStoreError):
            return error
        error = error.__cause__ or error.__context__
    return None


async def test_a_worker_without_the_store_fails_the_run_instead_of_retrying(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A workflow whose input is in a store its worker lacks fails at once with the reason,
    rather than retrying its workflow task forever."""
    store = tmp_path / "client-store"
    store.mkdir()
    address = dev_address(dev_env)
    starter = await connect_client(settings_for(address, AGENTIC_LOOP_PAYLOAD_STORE=str(store)))
    lacking = await connect_client(settings_for(address))
    task_queue = f"tq-{uuid.uuid4()}"
    async with build_worker(lacking, task_queue=task_queue, provider=BigReplies()):
        handle = await starter.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="hello", system_prompt="S" * (512 * 1024)),
            id=f"big-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as raised:
            await handle.result(rpc_timeout=None)
    assert "no payload store" in str(raised.value.cause)
    assert "AGENTIC_LOOP_PAYLOAD_STORE" in str(raised.value.cause)


async def test_stored_payloads_are_sealed_when_encryption_is_on(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """With AGENTIC_LOOP_CODEC_KEYS set, the store's files hold ciphertext, not the reply."""
    store = tmp_path / "sealed"
    store.mkdir()
    client = await connect_client(
        settings_for(
            dev_address(dev_env),
            AGENTIC_LOOP_PAYLOAD_STORE=str(store),
            AGENTIC_LOOP_CODEC_KEYS=f"k1:{generate_key()}",
        )
    )
    result, _, _ = await _run_big(client)
    assert result.status == AgentStatus.COMPLETED
    files = [f for f in store.rglob("*") if f.is_file()]
    assert files
    for file in files:
        data = file.read_bytes()
        assert b"binary/encrypted" in data
        assert b"AAAAAAAAAAAAAAAA" not in data and b"line 0000001" not in data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """A moto S3 server on loopback with a bucket "payloads"; AWS credentials for it only."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        patch.setenv(name, value)
    patch.delenv("AWS_PROFILE", raising=False)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="payloads")
        yield endpoint
    finally:
        patch.undo()
        server.stop()


async def test_s3_store_completes_replays_and_reads_back(
    dev_env: WorkflowEnvironment, s3_server: str
) -> None:
    """With s3://payloads/agents on a loopback S3 server, the 10 MB run completes, its objects
    are under the prefix, its transcript reads back whole and its history replays."""
    settings = settings_for(
        dev_address(dev_env),
        AGENTIC_LOOP_PAYLOAD_STORE="s3://payloads/agents",
        AGENTIC_LOOP_PAYLOAD_STORE_ENDPOINT=s3_server,
    )
    client = await connect_client(settings)
    result, workflow_id, _ = await _run_big(client)
    assert result.status == AgentStatus.COMPLETED
    assert result.answer == "A" * REPLY_BYTES
    import boto3

    listed = boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket="payloads")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert keys and all(k.startswith("agents/v0/") for k in keys)
    messages = await read_transcript(client, workflow_id)
    assert [len(m.content) for m in messages if m.role == "tool"] == [TOOL_RESULT_BYTES]
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    assert _history_bytes(history) < HISTORY_BUDGET
    replayed = await plugin_replayer(AgentLoopPlugin(settings)).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None


async def test_s3_missing_object_is_a_clear_error(
    dev_env: WorkflowEnvironment, s3_server: str
) -> None:
    """A reference into S3 whose object is gone (another prefix) is a PayloadStoreError naming
    the s3:// address, not a retried RuntimeError."""
    address = dev_address(dev_env)
    writer = await connect_client(
        settings_for(
            address,
            AGENTIC_LOOP_PAYLOAD_STORE="s3://payloads/written",
            AGENTIC_LOOP_PAYLOAD_STORE_ENDPOINT=s3_server,
        )
    )
    _, workflow_id, _ = await _run_big(writer)
    reader = await connect_client(
        settings_for(
            address,
            AGENTIC_LOOP_PAYLOAD_STORE="s3://payloads/elsewhere",
            AGENTIC_LOOP_PAYLOAD_STORE_ENDPOINT=s3_server,
        )
    )
    with pytest.raises(Exception) as raised:
        await read_transcript(reader, workflow_id)
    error = _payload_store_error(raised.value)
    assert error is not None, repr(raised.value)
    assert "s3://payloads/elsewhere/v0/" in error.message
    assert error.non_retryable
