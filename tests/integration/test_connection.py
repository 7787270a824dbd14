"""connect_client against a real dev server, and against an address where nothing listens."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.testing import WorkflowEnvironment

from agentic_loop.config import Settings
from agentic_loop.temporal.codec import EncryptionCodec
from agentic_loop.temporal.connection import TemporalUnreachable, connect_client
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
