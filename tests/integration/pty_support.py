"""Running the `agentic-loop` command with a pseudo-terminal as its stdin, as a person's shell
does: `isatty()` is true, and Ctrl-C typed into it interrupts the command."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
import time

from cli_support import CLI, cli_env

# Run as the child: a session of its own whose controlling terminal is the pty on stdin, so
# the terminal sends SIGINT for a typed Ctrl-C (preexec_fn is unsafe in a threaded test).
_ON_A_TERMINAL = (
    "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


class TerminalRun:
    """The command with a pty on stdin; stdout and stderr are pipes read as they come."""

    def __init__(self, *args: str, **env: str) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _ON_A_TERMINAL, *CLI[1:], *args],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(**env),
        )
        os.close(slave)
        self.out = ""
        self.err = ""
        for stream in (self.process.stdout, self.process.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def _drain(self) -> None:
        for name, stream in (("out", self.process.stdout), ("err", self.process.stderr)):
            assert stream is not None
            while True:
                try:
                    data = os.read(stream.fileno(), 65536)
                except BlockingIOError:
                    break
                if not data:
                    break
                setattr(self, name, getattr(self, name) + data.decode(errors="replace"))

    async def wait_for(self, text: str, *, within: float = 60, stream: str = "any") -> None:
        """Until `text` appears on stdout or stderr (or the one named), else fail."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self._drain()
            seen = {"out": self.out, "err": self.err, "any": self.out + self.err}[stream]
            if text in seen:
                return
            if self.process.poll() is not None:
                self._drain()
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared\nstdout:\n{self.out}\nstderr:\n{self.err}")

    async def wait(self, within: float = 60) -> int:
        deadline = time.monotonic() + within
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running\nstdout:\n{self.out}\nstderr:\n{self.err}")
            self._drain()
            await asyncio.sleep(0.05)
        self._drain()
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        os.close(self.master)
