"""The toolbox MCP server (toolbox.py) as the tests run it: over stdio, started by the worker
from an MCP servers file, or over streamable HTTP on a loopback port, started (and crashed,
and started again) by the test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TOOLBOX = Path(__file__).resolve().parent / "toolbox.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stdio_server(journal: Path, **options: Any) -> dict[str, Any]:
    """The file entry of a toolbox the worker starts itself, journaling to `journal`."""
    return {
        "command": sys.executable,
        "args": [str(TOOLBOX), "stdio"],
        "env": {"TOOLBOX_JOURNAL": str(journal)},
        **options,
    }


def write_config(path: Path, servers: dict[str, dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


def journal(path: Path, event: str | None = None) -> list[dict[str, Any]]:
    """The calls the server journaled (of one kind, when `event` is given)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return [r for r in records if event is None or r["event"] == event]


async def wait_for(condition: Any, *, within: float = 30.0, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {within:g} s for {what}")
        await asyncio.sleep(0.05)


class HttpToolbox:
    """The toolbox over streamable HTTP on a loopback port, in a process of its own."""

    def __init__(self, journal: Path, port: int | None = None) -> None:
        self.journal = journal
        self.port = port or free_port()
        self.log = journal.with_suffix(".log")
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def entry(self, **options: Any) -> dict[str, Any]:
        return {"url": self.url, **options}

    def spawn(self) -> None:
        with open(self.log, "ab") as log:
            self._popen = subprocess.Popen(
                [sys.executable, str(TOOLBOX), "http", str(self.port)],
                env={**os.environ, "TOOLBOX_JOURNAL": str(self.journal)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def start(self) -> None:
        """Spawn the server and wait until it listens."""
        self.spawn()

        def listening() -> bool:
            if self._popen is not None and self._popen.poll() is not None:
                raise RuntimeError(f"the HTTP toolbox exited:\n{self.log.read_text()[-2000:]}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        await wait_for(listening, what="the HTTP toolbox to listen")

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self) -> None:
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(10)
