"""Fixtures that start real processes (dev servers, workers) and always stop them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from harness import DevServer, StartServer, StartWorker, WorkerProcess, connect
from temporalio.client import Client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    """One dev server for the tests that do not stop it themselves."""
    directory = tmp_path_factory.mktemp("dev-server")
    server = DevServer(directory / "temporal.db", directory / "server.log")
    server.start()
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(dev_server: DevServer) -> Client:
    return await connect(dev_server.address)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Where worker processes and the test share scripts, journals and ledgers."""
    return tmp_path


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest_asyncio.fixture(loop_scope="session")
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """A dev server of this test's own, to stop and restart on the same SQLite file."""
    servers: list[DevServer] = []

    async def start() -> DevServer:
        server = DevServer(tmp_path / "own-temporal.db", tmp_path / "own-server.log")
        servers.append(server)
        server.start()
        await server.wait_ready()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def start_worker(workdir: Path) -> Iterator[StartWorker]:
    """Start worker processes (address, task queue) and wait until they poll; all are
    stopped at the end of the test, however it ends."""
    workers: list[WorkerProcess] = []

    async def start(address: str, task_queue: str) -> WorkerProcess:
        worker = WorkerProcess(address, task_queue, workdir, name=f"worker-{len(workers) + 1}")
        workers.append(worker)
        worker.start()
        await worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.kill()
