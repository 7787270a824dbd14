"""The seed's example against the real Anthropic API: run only by `nox -s live`, with a key.

It spends a few hundred tokens, so it never runs by accident: without AGENTIC_LOOP_LIVE=1 (set
by the nox session) or without ANTHROPIC_API_KEY it is skipped, even under a bare `pytest`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("AGENTIC_LOOP_LIVE") != "1",
        reason="live Anthropic check: run it with `nox -s live` (it calls the real API)",
    ),
    pytest.mark.skipif(
        not os.environ.get("ANTHROPIC_API_KEY", "").strip(),
        reason="ANTHROPIC_API_KEY is not set",
    ),
]

# A real model, an embedded Temporal server to start, a tool call: minutes, not seconds, at worst.
DEADLINE_SECONDS = 300


def test_seed_example_completes_with_8_on_the_real_api(tmp_path: Path) -> None:
    """`agentic-loop run --json` with the seed's goal completes on Anthropic, using the
    calculator, with 8 in the answer."""
    # The key, model and base URL come from the caller's environment; Temporal is embedded.
    # AGENTIC_LOOP_LLM names Anthropic, since an OpenAI key would otherwise win.
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "AGENTIC_LOOP_LLM")}
    env["AGENTIC_LOOP_LLM"] = "anthropic"
    done = subprocess.run(
        [sys.executable, "-m", "agentic_loop.cli", "run", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    # The last line: the embedded server's banner may precede the result on stdout.
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    assert "8" in result["answer"]
    assert result["tool_calls"] >= 1
    assert result["usage"]["total_tokens"] > 0
