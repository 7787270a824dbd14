"""The long-running commands log through one handler: each line once, secrets masked."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.error
import urllib.request

from cli_support import CLI, cli_env

TOKEN = "codec-token-that-must-never-be-printed"
KEY = "k1:" + "A" * 43 + "="


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listened on port {port} in time")


def test_codec_server_logs_each_request_once_with_the_token_masked() -> None:
    """A request whose line carries the codec token is logged exactly once, as [redacted]:
    the command's own handler and the structured one used to print it twice, once in clear."""
    port = _free_port()
    env = cli_env(AGENTIC_LOOP_CODEC_KEYS=KEY, AGENTIC_LOOP_CODEC_TOKEN=TOKEN)
    process = subprocess.Popen(
        [*CLI, "codec-server", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_port(port, time.monotonic() + 30)
        marker = "unknown-path-7f3a"
        # Refused, as it should be: the log line is what this test reads.
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/{marker}?token={TOKEN}", timeout=5)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    lines = [line for line in err.splitlines() if marker in line]
    assert len(lines) == 1, err
    assert TOKEN not in err
    assert "[redacted]" in lines[0]
