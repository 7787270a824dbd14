"""Real processes for the durability tests and the soak: the dev server, worker processes,
test tools whose every run is journaled to files, and LLM fakes that journal their requests.

Shared by the tests, tests/integration/worker_process.py and tests/soak/soak.py. Everything
that must be counted across processes (LLM requests, tool runs, side effects) is appended to
JSON-lines files in a work directory, one short line per `write`, so lines from concurrent
processes never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, Any

from temporalio import activity
from temporalio.client import Client

from agentic_loop.config import Settings
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.temporal.dev_server import dev_server_args, temporal_cli
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.tools import Tool, ToolContext, ToolRegistry, default_registry
from agentic_loop.types import LLMTurn
from support import poll_until

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker_process.py"
LLM_JOURNAL = "llm_requests.jsonl"
TOOL_JOURNAL = "tool_runs.jsonl"
WORKER_JOURNAL = "workers.jsonl"
LEDGER = "ledger.jsonl"
NAIVE_LEDGER = "naive_ledger.jsonl"
SCRIPTS = "scripts"
POLL_SECONDS = 0.05


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def append_line(path: Path, record: dict[str, Any]) -> None:
    # One O_APPEND write per record: atomic for short lines, whichever process writes.
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        # A process killed mid-write may leave a torn last line; it is not a record.
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return records


async def wait_until(
    condition: Callable[[], bool], *, within: float, what: str, poll: float = POLL_SECONDS
) -> float:
    """Poll `condition` until it holds; return the seconds it took, or fail naming `what`."""
    started = time.monotonic()
    await poll_until(condition, within=within, every=poll, what=what)
    return time.monotonic() - started


# -- processes ---------------------------------------------------------------------------


class Process:
    """A child in its own process group, so a kill reaches everything it started."""

    def __init__(self, command: list[str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._popen is not None, "the process was not started"
        return self._popen.pid

    def start(self) -> None:
        assert self._popen is None or self._popen.poll() is not None, "already running"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in `stop`)
        self._popen = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Signal the whole group and reap it; SIGKILL if it outlives `timeout`."""
        popen = self._popen
        if popen is None:
            return None
        try:
            if popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, sig)
                try:
                    popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(popen.pid, signal.SIGKILL)
                    popen.wait(10)
            # Whatever the leader left behind in its group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(popen.pid, signal.SIGKILL)
            return popen.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class DevServer(Process):
    """`temporal server start-dev` on a loopback port, its state in a SQLite file."""

    def __init__(self, db_filename: Path, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.db_filename = db_filename
        super().__init__(
            [
                temporal_cli(), "server", "start-dev", "--headless",
                "--ip", "127.0.0.1", "--port", str(self.port),
                "--db-filename", str(db_filename),
                "--log-level", "error",
                *dev_server_args(),
            ],
            log_path,
        )  # fmt: skip

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def wait_ready(self, within: float = 60.0) -> float:
        """Seconds until the frontend answers a namespace call, or fail with the log."""
        started = time.monotonic()
        while True:
            if not self.running():
                raise RuntimeError(f"the dev server exited:\n{self.log_tail()}")
            try:
                client = await asyncio.wait_for(_connect(self.address), timeout=5)
                await client.count_workflows()
                return time.monotonic() - started
            except Exception:
                if time.monotonic() - started > within:
                    raise
            await asyncio.sleep(0.2)


class WorkerProcess(Process):
    """tests/integration/worker_process.py: a real worker with the harness tools."""

    def __init__(self, address: str, task_queue: str, workdir: Path, name: str = "worker") -> None:
        self.workdir = workdir
        super().__init__(
            [
                sys.executable, str(WORKER_SCRIPT),
                "--address", address, "--task-queue", task_queue, "--workdir", str(workdir),
            ],
            workdir / f"{name}.log",
        )  # fmt: skip

    async def wait_ready(self, within: float = 60.0) -> float:
        def ready() -> bool:
            if not self.running():
                raise RuntimeError(f"the worker process exited:\n{self.log_tail()}")
            return any(
                r["pid"] == self.pid and r["event"] == "ready"
                for r in read_lines(self.workdir / WORKER_JOURNAL)
            )

        return await wait_until(ready, within=within, what=f"worker {self.pid} to poll")


# What the `start_server` and `start_worker` fixtures of conftest.py give a test.
StartServer = Callable[[], Awaitable[DevServer]]
StartWorker = Callable[[str, str], Awaitable[WorkerProcess]]


def _connect(address: str) -> Awaitable[Client]:
    # With the plugin, as every client of the product: its workers get the workflow, the
    # sandbox settings and the interceptors from it. No settings: the environment of the
    # process running the tests must not reach the workers under test.
    return Client.connect(address, plugins=[AgentLoopPlugin(Settings())])


async def connect(address: str, within: float = 60.0) -> Client:
    """Connect, retrying while the server is still starting (or restarting)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await asyncio.wait_for(_connect(address), timeout=5)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


# -- the LLM side --------------------------------------------------------------------------


def script_name_of(goal: str) -> str:
    """Goals read "NAME: text"; NAME picks the script, so one worker serves many."""
    return goal.split(":", 1)[0].strip()


def assistant_turns(request: CompletionRequest) -> int:
    return sum(1 for m in request.messages if m.role == "assistant")


class ScriptBook:
    """A provider that plays, for each conversation, the script its goal names: from memory,
    or from WORKDIR/scripts/NAME.json so a separate worker process plays the same one."""

    def __init__(
        self, scripts: dict[str, ScriptedLLM] | None = None, directory: Path | None = None
    ) -> None:
        self.scripts = dict(scripts or {})
        self.directory = directory

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def default_model(self) -> str:
        return "script-book"

    def script_for(self, request: CompletionRequest) -> ScriptedLLM:
        goal = next((m.content for m in request.messages if m.role == "user"), "")
        name = script_name_of(goal)
        if name not in self.scripts:
            if self.directory is None:
                raise LookupError(f"no script named {name!r} for goal {goal[:80]!r}")
            self.scripts[name] = ScriptedLLM.from_file(self.directory / f"{name}.json")
        return self.scripts[name]

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        return await self.script_for(request).complete(request)


class JournalingLLM:
    """Journals (workflow, turn, attempt, pid) of every request before passing it on, and
    again when it is answered, so a test counts requests across worker processes, including
    ones killed before they answered."""

    def __init__(self, inner: ScriptBook, journal: Path) -> None:
        self.inner = inner
        self.journal = journal

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def default_model(self) -> str:
        return self.inner.default_model

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        record = {
            "workflow_id": activity.info().workflow_id,
            "turn": assistant_turns(request) + 1,
            "attempt": request.attempt,
            "elapsed": request.elapsed_seconds,
            "pid": os.getpid(),
        }
        append_line(self.journal, {**record, "event": "request"})
        turn = await self.inner.complete(request)
        append_line(self.journal, {**record, "event": "answered"})
        return turn


# -- the tool side ---------------------------------------------------------------------------


def _journaled(tool: Tool, journal: Path) -> Tool:
    """The same tool, with a journal line when a run starts and when it returns."""

    async def run(args: dict[str, Any], context: ToolContext) -> str:
        record = {"key": context.idempotency_key, "tool": tool.name, "pid": os.getpid()}
        append_line(journal, {**record, "event": "start"})
        result = await tool.run(args, context)
        append_line(journal, {**record, "event": "done"})
        return result

    return Tool(tool.name, tool.description, tool.parameters, run)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    # The check and the write must be one step, or two attempts could both miss the key. A
    # real tool gets the same from a unique index or the remote API's idempotency header.
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_effect(path: Path, key: str, entry: str, *, dedupe: bool) -> bool:
    """Record the effect; with `dedupe`, only if its key is not already recorded."""
    with _locked(path) as f:
        if dedupe:
            for line in f.read().splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    if json.loads(line)["key"] == key:
                        return False
        f.write(json.dumps({"key": key, "entry": entry, "pid": os.getpid()}) + "\n")
        f.flush()
        return True


_ENTRY_PARAMETERS = {
    "type": "object",
    "properties": {
        "entry": {"type": "string"},
        # Seconds to wait after the effect is written, before returning: the window in which a
        # crash leaves an effect done but not reported.
        "hold": {"type": "number"},
    },
    "required": ["entry"],
    "additionalProperties": False,
}


def harness_tools(workdir: Path) -> ToolRegistry:
    """The built-in tools plus the test tools, every run journaled to WORKDIR."""
    journal = workdir / TOOL_JOURNAL

    async def slow_step(args: dict[str, Any], context: ToolContext) -> str:
        await asyncio.sleep(float(args.get("seconds", 1.0)))
        return f"{args['label']}: done"

    def ledger_tool(name: str, path: Path, *, dedupe: bool) -> Tool:
        async def run(args: dict[str, Any], context: ToolContext) -> str:
            written = _write_effect(path, context.idempotency_key, args["entry"], dedupe=dedupe)
            append_line(
                journal,
                {
                    "key": context.idempotency_key,
                    "tool": name,
                    "pid": os.getpid(),
                    "event": "effect" if written else "effect already recorded",
                },
            )
            await asyncio.sleep(float(args.get("hold", 0.0)))
            return f"recorded: {args['entry']}"

        how = "once per idempotency key" if dedupe else "every time it runs (no deduplication)"
        return Tool(name, f"Record an entry in the ledger, {how}.", _ENTRY_PARAMETERS, run)

    builtin = default_registry()
    tools = [
        *(builtin.get(n) for n in builtin.names()),
        Tool(
            "slow_step",
            "Take a while, then report the step done.",
            {
                "type": "object",
                "properties": {"label": {"type": "string"}, "seconds": {"type": "number"}},
                "required": ["label"],
            },
            slow_step,
        ),
        ledger_tool("ledger_write", workdir / LEDGER, dedupe=True),
        ledger_tool("naive_write", workdir / NAIVE_LEDGER, dedupe=False),
    ]
    return ToolRegistry(_journaled(t, journal) for t in tools if t is not None)


def harness_provider(workdir: Path) -> JournalingLLM:
    return JournalingLLM(ScriptBook(directory=workdir / SCRIPTS), workdir / LLM_JOURNAL)


def write_script(workdir: Path, name: str, data: dict[str, Any]) -> None:
    directory = workdir / SCRIPTS
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")


# -- reading the journals ----------------------------------------------------------------------


def tool_runs(workdir: Path, key_prefix: str = "") -> list[dict[str, Any]]:
    return [r for r in read_lines(workdir / TOOL_JOURNAL) if r["key"].startswith(key_prefix)]


def llm_requests(
    workdir: Path, workflow_id: str | None = None, event: str = "request"
) -> list[dict[str, Any]]:
    """Requests the LLM received, or with `event="answered"` the answers it gave."""
    return [
        r
        for r in read_lines(workdir / LLM_JOURNAL)
        if r["event"] == event and (workflow_id is None or r["workflow_id"] == workflow_id)
    ]


def ledger_entries(workdir: Path, *, naive: bool = False) -> list[dict[str, Any]]:
    return read_lines(workdir / (NAIVE_LEDGER if naive else LEDGER))
