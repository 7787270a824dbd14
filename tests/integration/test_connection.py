"""connect_client against a real dev server, and against an address where nothing listens."""

from __future__ import annotations

import base64
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import temporalio.client
from opentelemetry.sdk.trace import TracerProvider
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from agentic_loop.config import Settings
from agentic_loop.temporal.codec import EncryptionCodec
from agentic_loop.temporal.connection import TemporalUnreachable, connect_client
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.transcript.reader import read_transcript
from agentic_loop.types import AgentInput
from agentic_loop.workflow import AgentWorkflow
from production_support import dev_address, dev_server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server() as env:
        yield env


async def test_connects_to_the_dev_server_from_the_environment(
    dev_env: WorkflowEnvironment,
) -> None:
    """TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, read through envconfig, give a working client
    that carries our codec."""
    settings = Settings.from_env(
        {"TEMPORAL_ADDRESS": dev_address(dev_env), "TEMPORAL_NAMESPACE": "default"}
    )
    client = await connect_client(settings)
    assert client.namespace == "default"
    assert isinstance(client.data_converter.payload_codec, EncryptionCodec)
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version


async def test_connects_through_a_temporal_toml_profile(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A profile of temporal.toml, picked by TEMPORAL_PROFILE, is where the client connects."""
    config = tmp_path / "temporal.toml"
    config.write_text(
        f'[profile.local]\naddress = "{dev_address(dev_env)}"\nnamespace = "default"\n',
        encoding="utf-8",
    )
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "local"})
    client = await connect_client(settings)
    assert client.service_client.config.target_host == dev_address(dev_env)


def _unused_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def test_unreachable_server_fails_within_seconds_naming_the_address() -> None:
    """With nothing listening, connect_client gives up within its timeout, and says where it
    tried and what to do."""
    address = _unused_address()
    started = time.monotonic()
    with pytest.raises(TemporalUnreachable) as caught:
        await connect_client(Settings.from_env({"TEMPORAL_ADDRESS": address}), timeout_seconds=3)
    assert time.monotonic() - started < 6
    message = str(caught.value)
    assert f"cannot reach Temporal at {address}" in message
    assert "TEMPORAL_ADDRESS" in message


async def test_a_client_only_connection_is_the_plugins_client_without_its_worker_side(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """`client_only` (what `status`, `start`, `result` connect with) gives a client that seals
    and reads payloads as the plugin's client does, each reading what the other wrote, with
    the same payload store and the same interceptors acting on its calls, but no
    AgentLoopPlugin to give a worker (test_big_payloads.py reads a stored payload so)."""
    (tmp_path / "payloads").mkdir()
    settings = Settings.from_env(
        {
            "TEMPORAL_ADDRESS": dev_address(dev_env),
            "AGENTIC_LOOP_CODEC_KEYS": "k1:" + base64.b64encode(bytes(range(32))).decode(),
            "AGENTIC_LOOP_PAYLOAD_STORE": str(tmp_path / "payloads"),
            "AGENTIC_LOOP_PAYLOAD_STORE_THRESHOLD": "1024",
        }
    )
    tracing = TracerProvider()
    full = await connect_client(settings, tracer_provider=tracing)
    only = await connect_client(settings, tracer_provider=tracing, client_only=True)
    assert not any(isinstance(p, AgentLoopPlugin) for p in only.config().get("plugins", ()))
    ours, theirs = only.data_converter, full.data_converter
    for field in ("payload_converter_class", "failure_converter_class"):
        assert getattr(ours, field) is getattr(theirs, field)
    assert type(ours.payload_codec) is type(theirs.payload_codec) is EncryptionCodec
    assert ours.external_storage is not None
    assert theirs.external_storage is not None
    assert [d.name() for d in ours.external_storage.drivers] == [
        d.name() for d in theirs.external_storage.drivers
    ]
    assert ours.external_storage.payload_size_threshold == 1024
    assert theirs.external_storage.payload_size_threshold == 1024
    for writer, reader in ((ours, theirs), (theirs, ours)):
        payloads = await writer.encode(["a secret"])
        assert b"a secret" not in payloads[0].SerializeToString()  # sealed
        assert await reader.decode(payloads, [str]) == ["a secret"]

    # Of the plugin's interceptors, those acting on a client's calls (overriding
    # intercept_client) are exactly the client-only connection's.
    def acting(client: Client) -> list[type]:
        return [
            type(i)
            for i in client.config(active_config=True)["interceptors"]
            if type(i).intercept_client is not temporalio.client.Interceptor.intercept_client
        ]

    assert acting(only) == acting(full) == [TracingInterceptor]
    assert [type(i) for i in only.config(active_config=True)["interceptors"]] == [
        TracingInterceptor
    ]


async def test_a_client_only_connection_reads_a_closed_run_back_by_replaying_it(
    dev_env: WorkflowEnvironment,
) -> None:
    """A run that ended without a result (terminated) is read back by replaying its history:
    a client connected `client_only` has no plugin to replay with, and gets one made of the
    settings it was connected with, so its transcript is the plugin client's."""
    settings = Settings.from_env({"TEMPORAL_ADDRESS": dev_address(dev_env)})
    full = await connect_client(settings)
    only = await connect_client(settings, client_only=True)
    workflow_id = f"closed-{uuid.uuid4().hex[:8]}"
    handle = await full.start_workflow(
        AgentWorkflow.run, AgentInput(goal="read me back"), id=workflow_id, task_queue="nobody"
    )
    await handle.terminate("ended before any worker took it")
    expected = await read_transcript(full, workflow_id)
    assert expected[-1].content == "read me back"
    assert await read_transcript(only, workflow_id) == expected
