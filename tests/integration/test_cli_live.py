"""What a person sees while an agent works: a live line at a terminal built from the run's
pending activities, retries a line each elsewhere, and the SDK's warnings kept out of the
terminal (in the log file, or on stderr with --verbose)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import subprocess
from pathlib import Path

from cli_support import CLI, cli_env, run_cli

# Attempt 1: a 429 asking for 2 s; attempt 2: 2.5 s of thinking, then the answer.
SLOW_AFTER_A_429 = {
    "turns": [
        {
            "faults": [
                {"status": 429, "times": 1, "message": "rate limited", "retry_after": 2},
                {"delay": 2.5, "times": 1},
            ],
            "content": "Done after a retry.",
        }
    ]
}
TWO_429S = {
    "turns": [
        {
            "faults": [{"status": 429, "times": 2, "message": "rate limited", "retry_after": 1}],
            "content": "Done after two retries.",
        }
    ]
}


def _script(tmp_path: Path, data: dict[str, object]) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(data), "utf-8")
    return f"scripted:{path}"


async def _run_on_a_terminal(*args: str, **env: str) -> tuple[int, str, str]:
    """The command with a pseudo-terminal as its stdout (as in a person's shell): what it
    wrote there, raw, and its stderr."""
    master, slave = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        *CLI, *args,
        stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
        env=cli_env(TERM="xterm", **env),
    )  # fmt: skip
    os.close(slave)
    os.set_blocking(master, False)
    out = b""
    errors = asyncio.ensure_future(process.communicate())
    while True:
        try:
            out += os.read(master, 65536)
            continue
        except BlockingIOError:
            if errors.done():
                break
        except OSError:  # the child closed the terminal
            break
        await asyncio.sleep(0.05)
    os.close(master)
    _, err = await asyncio.wait_for(errors, 60)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode()


async def test_at_a_terminal_a_live_line_shows_the_retry_and_the_thinking(tmp_path: Path) -> None:
    """At a terminal `run` redraws one line saying the LLM call failed with the provider's
    reason and when attempt 2 of 5 comes, then how long the model has been thinking; it is
    cleared before the answer is printed."""
    code, out, err = await _run_on_a_terminal(
        "run", "say when you are done",
        AGENTIC_LOOP_LLM=_script(tmp_path, SLOW_AFTER_A_429),
        AGENTIC_LOOP_LOG_FILE=str(tmp_path / "log.txt"),
    )  # fmt: skip
    assert code == 0, err
    assert re.search(r"LLM call failed: HTTP 429: rate limited, retry 2/5 in [012] s", out), out
    assert re.search(r"thinking… [12] s \(attempt 2\)", out), out
    # The line is drawn after "\r" + erase-line and erased the same way before the answer.
    before_answer = out[: out.index("Answer:")]
    assert before_answer.rstrip("\r\n").endswith("\r\x1b[K[turn 1] LLM answers"), before_answer[
        -200:
    ]


async def test_without_a_terminal_each_retry_is_one_line_and_warnings_go_to_the_log(
    tmp_path: Path,
) -> None:
    """Piped, `run` prints each retry once (no redrawn line), its stderr holds none of the
    SDK's warnings, and the log file does."""
    log = tmp_path / "log.txt"
    done = await run_cli(
        "run", "say when you are done",
        AGENTIC_LOOP_LLM=_script(tmp_path, TWO_429S), AGENTIC_LOOP_LOG_FILE=str(log),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    retries = [line for line in done.stdout.splitlines() if "retry" in line]
    assert [re.sub(r" in \d s$", "", line) for line in retries] == [
        "LLM call failed: HTTP 429: rate limited, retry 2/5",
        "LLM call failed: HTTP 429: rate limited, retry 3/5",
    ], done.stdout
    assert "\x1b[K" not in done.stdout
    assert "WARN" not in done.stderr, done.stderr
    assert "WARN" not in done.stdout, done.stdout
    assert "call_llm attempt 1 failed" in log.read_text("utf-8")


async def test_verbose_shows_the_warnings_on_stderr_one_line_each(tmp_path: Path) -> None:
    """With --verbose the same warnings reach stderr as one line each, and no log is
    written."""
    log = tmp_path / "log.txt"
    done = await run_cli(
        "run", "--verbose", "say when you are done",
        AGENTIC_LOOP_LLM=_script(tmp_path, TWO_429S), AGENTIC_LOOP_LOG_FILE=str(log),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "agentic-loop: WARNING: call_llm attempt 1 failed" in done.stderr
    assert "Traceback" not in done.stderr
    assert not log.exists()
