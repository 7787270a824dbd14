"""Payloads over Temporal's limits on the real dev server: a 10 MB tool result and a 1 MB model
reply complete, kept outside history (a directory, or S3 on a loopback moto server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

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
from production_support import dev_address, dev_server, readable_history, settings_for

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


class BigRun(NamedTuple):
    client: Client
    result: Any
    workflow_id: str
    task_queue: str
    provider: BigReplies
    store: Path | None


def _worker(client: Client, task_queue: str, provider: BigReplies | None = None) -> Any:
    return build_worker(
        client, task_queue=task_queue, provider=provider or BigReplies(), tools=ToolRegistry([dump])
    )


async def _run_big(client: Client, store: Path | None = None) -> BigRun:
    """The dump-then-reply-1-MB conversation, run to its end on a worker of `client`."""
    provider = BigReplies()
    task_queue = f"tq-{uuid.uuid4()}"
    async with _worker(client, task_queue, provider):
        handle = await client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="dump it", tools=["dump"]),
            id=f"big-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
    return BigRun(client, result, handle.id, task_queue, provider, store)


@contextlib.asynccontextmanager
async def _serving(run: BigRun) -> AsyncIterator[None]:
    """A worker (with the run's store) on the run's task queue again, as the `transcript`
    command needs one to answer its first query."""
    async with _worker(run.client, run.task_queue):
        yield


def _history_bytes(history: WorkflowHistory) -> int:
    return len(history.to_json())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def local_run(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> BigRun:
    """The big conversation with a directory store, run once for the tests that read it."""
    store = tmp_path_factory.mktemp("payloads")
    client = await connect_client(
        settings_for(dev_address(dev_env), AGENTIC_LOOP_PAYLOAD_STORE=str(store))
    )
    return await _run_big(client, store)


async def test_a_10_mb_tool_result_and_a_1_mb_reply_complete(local_run: BigRun) -> None:
    """A run whose tool returns 10 MB and whose model replies 1 MB completes with that reply."""
    assert local_run.result.status == AgentStatus.COMPLETED
    assert local_run.result.answer == "A" * REPLY_BYTES


async def test_the_model_is_shown_the_result_cut_with_a_note(local_run: BigRun) -> None:
    """The model's second request holds the first 64 KiB of the tool result and a note of the
    number of bytes left out."""
    [tool_message] = [m for m in local_run.provider.shown[-1].messages if m.role == "tool"]
    kept, _, note = tool_message.content.partition("\n[... ")
    assert kept == ten_megabytes()[: 64 * 1024]
    assert note == f"{TOOL_RESULT_BYTES - 64 * 1024:,} more bytes of this result were left out]"


async def test_the_transcript_keeps_the_whole_result(local_run: BigRun) -> None:
    """read_transcript of the closed run (replayed here) returns the 10 MB result and the
    1 MB reply whole."""
    messages = await read_transcript(local_run.client, local_run.workflow_id)
    [tool_message] = [m for m in messages if m.role == "tool"]
    assert tool_message.content == ten_megabytes()
    assert messages[-1].content == "A" * REPLY_BYTES


async def test_the_transcript_query_returns_the_whole_result(local_run: BigRun) -> None:
    """The `transcript` query, answered by a worker, returns the 10 MB result whole: its
    answer is kept in the store too."""
    async with _serving(local_run):
        messages = await read_transcript(
            local_run.client, local_run.workflow_id, replay_closed_runs=False
        )
    [tool_message] = [m for m in messages if m.role == "tool"]
    assert tool_message.content == ten_megabytes()
    assert messages[-1].content == "A" * REPLY_BYTES


async def test_history_holds_references_and_stays_small(local_run: BigRun) -> None:
    """The server's history is far under Temporal's limits and holds references, while the
    store holds the payloads' bytes."""
    history = await local_run.client.get_workflow_handle(local_run.workflow_id).fetch_history()
    assert _history_bytes(history) < HISTORY_BUDGET
    assert "temporal.api.sdk.v1.ExternalStorageReference" in readable_history(history.to_json())
    assert local_run.store is not None
    stored = sum(f.stat().st_size for f in local_run.store.rglob("*") if f.is_file())
    assert stored > TOOL_RESULT_BYTES + REPLY_BYTES


async def test_the_history_replays(local_run: BigRun, dev_env: WorkflowEnvironment) -> None:
    """The Replayer of a plugin with the same store judges the history deterministic."""
    history = await local_run.client.get_workflow_handle(local_run.workflow_id).fetch_history()
    plugin = AgentLoopPlugin(
        settings_for(dev_address(dev_env), AGENTIC_LOOP_PAYLOAD_STORE=str(local_run.store))
    )
    result = await plugin_replayer(plugin).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_the_transcript_command_prints_the_whole_result(
    local_run: BigRun, dev_env: WorkflowEnvironment
) -> None:
    """`agentic-loop transcript --json` prints the tool message with all its 10 MB."""
    async with _serving(local_run):
        done = await run_cli(
            "transcript",
            "--json",
            local_run.workflow_id,
            TEMPORAL_ADDRESS=dev_address(dev_env),
            AGENTIC_LOOP_PAYLOAD_STORE=str(local_run.store),
        )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    [tool_row] = [r for r in rows if r.get("role") == "tool"]
    assert tool_row["content"] == ten_megabytes()
    assert rows[-1]["content"] == "A" * REPLY_BYTES


async def test_the_result_command_reads_the_stored_reply_back(
    local_run: BigRun, dev_env: WorkflowEnvironment
) -> None:
    """`agentic-loop result --json`, which connects without the worker side, reads the 1 MB
    answer the history holds only a reference to back from the store."""
    done = await run_cli(
        "result",
        "--json",
        local_run.workflow_id,
        TEMPORAL_ADDRESS=dev_address(dev_env),
        AGENTIC_LOOP_PAYLOAD_STORE=str(local_run.store),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "A" * REPLY_BYTES


async def test_a_missing_object_is_a_clear_error(
    local_run: BigRun, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Reading the run back with an empty store raises PayloadStoreError naming the hash and
    the store (not a nondeterminism error, nor a partial transcript); the command says so on
    one line with exit code 2."""
    empty = tmp_path / "empty"
    empty.mkdir()
    other = await connect_client(
        settings_for(dev_address(dev_env), AGENTIC_LOOP_PAYLOAD_STORE=str(empty))
    )
    with pytest.raises(PayloadStoreError) as raised:
        await read_transcript(other, local_run.workflow_id)
    assert "sha256:" in raised.value.message
    assert str(empty) in raised.value.message
    assert raised.value.non_retryable
    async with _serving(local_run):
        done = await run_cli(
            "transcript",
            local_run.workflow_id,
            TEMPORAL_ADDRESS=dev_address(dev_env),
            AGENTIC_LOOP_PAYLOAD_STORE=str(empty),
        )
    assert done.returncode == 2, done.stderr
    assert "missing from the payload store" in done.stderr
    assert str(empty) in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


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
            # A retried workflow task would never end the run: a deadline says so in seconds.
            await asyncio.wait_for(handle.result(rpc_timeout=None), 30)
    cause = raised.value.cause
    assert "no payload store" in str(cause)
    assert "AGENTIC_LOOP_PAYLOAD_STORE" in str(cause)
    description = await handle.describe()
    assert description.raw_description.workflow_execution_info.history_length < 10


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
    run = await _run_big(client, store)
    assert run.result.status == AgentStatus.COMPLETED
    files = [f for f in store.rglob("*") if f.is_file()]
    assert files
    for file in files:
        data = file.read_bytes()
        assert b"binary/encrypted" in data
        assert b"AAAAAAAAAAAAAAAA" not in data
        assert b"line 0000001" not in data


EMBEDDED_TOOLS = """
from agentic_loop.tools import tool


@tool(name="dump")
def dump() -> str:
    \"\"\"Returns a 10 MB text.\"\"\"
    return "".join(f"line {i:07d}\\n" for i in range(806598))[: 10 * 1024 * 1024]
"""


async def test_the_embedded_server_keeps_big_payloads_beside_its_database(
    tmp_path: Path,
) -> None:
    """`agentic-loop run --db-filename DB` with no store configured completes a run whose tool
    returns 10 MB (the model is shown its cut), keeping the payloads in DB.payloads."""
    (tmp_path / "big_tools.py").write_text(EMBEDDED_TOOLS)
    script = tmp_path / "script.json"
    left_out = f"{TOOL_RESULT_BYTES - 64 * 1024:,} more bytes of this result were left out"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {"tool_calls": [{"name": "dump", "arguments": {}}]},
                    {"expect": {"role": "tool", "contains": left_out}, "content": "dumped"},
                ]
            }
        )
    )
    db = tmp_path / "agents.db"
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
    done = await run_cli(
        "run",
        "--json",
        "--db-filename",
        str(db),
        "dump it",
        AGENTIC_LOOP_LLM=f"scripted:{script}",
        AGENTIC_LOOP_TOOLS="big_tools",
        PYTHONPATH=path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "dumped"
    stored = [f for f in (tmp_path / "agents.db.payloads").rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in stored) > TOOL_RESULT_BYTES


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


def _s3_settings(dev_env: WorkflowEnvironment, endpoint: str, url: str) -> Any:
    return settings_for(
        dev_address(dev_env),
        AGENTIC_LOOP_PAYLOAD_STORE=url,
        AGENTIC_LOOP_PAYLOAD_STORE_ENDPOINT=endpoint,
    )


def _s3_keys(endpoint: str) -> list[str]:
    import boto3

    listed = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket="payloads")
    return [o["Key"] for o in listed.get("Contents", [])]


async def test_s3_store_completes_replays_and_reads_back(
    dev_env: WorkflowEnvironment, s3_server: str
) -> None:
    """With s3://payloads/agents on a loopback S3 server the 10 MB run completes, its objects
    are under the prefix, its history is small and replays, and its transcript reads back
    whole."""
    settings = _s3_settings(dev_env, s3_server, "s3://payloads/agents")
    client = await connect_client(settings)
    run = await _run_big(client)
    assert run.result.status == AgentStatus.COMPLETED
    assert run.result.answer == "A" * REPLY_BYTES
    keys = [k for k in _s3_keys(s3_server) if run.workflow_id in k]
    assert len(keys) >= 2
    assert all(k.startswith("agents/v0/ns/default/") for k in keys)
    messages = await read_transcript(client, run.workflow_id)
    assert [m.content for m in messages if m.role == "tool"] == [ten_megabytes()]
    history = await client.get_workflow_handle(run.workflow_id).fetch_history()
    assert _history_bytes(history) < HISTORY_BUDGET
    replayed = await plugin_replayer(AgentLoopPlugin(settings)).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None


async def test_s3_missing_object_is_a_clear_error(
    dev_env: WorkflowEnvironment, s3_server: str
) -> None:
    """A reference into S3 whose object was deleted is a non-retryable PayloadStoreError
    naming the s3:// address, not the SDK's RuntimeError nor a nondeterminism error."""
    settings = _s3_settings(dev_env, s3_server, "s3://payloads/written")
    client = await connect_client(settings)
    run = await _run_big(client)
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server)
    for key in _s3_keys(s3_server):
        if run.workflow_id in key:
            s3.delete_object(Bucket="payloads", Key=key)
    with pytest.raises(PayloadStoreError) as raised:
        await read_transcript(client, run.workflow_id)
    assert "is missing from the payload store" in raised.value.message
    assert f"s3://payloads/written/v0/ns/default/wt/AgentWorkflow/wi/{run.workflow_id}/" in (
        raised.value.message
    )
    assert raised.value.non_retryable
