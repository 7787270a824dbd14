"""The embedded server module, which the command imports before the SDK."""

from __future__ import annotations

import subprocess
import sys

from agentic_loop.temporal.embedded import DEV_SERVER_SEARCH_ATTRIBUTES
from agentic_loop.workflow.visibility import AGENT_STATUS


def test_the_dev_server_registers_the_search_attribute_the_workflow_keeps() -> None:
    """The embedded server registers AgentStatus under the very name (and kind) the
    workflow upserts, or every agent's start there would leave it out."""
    assert [f"{AGENT_STATUS.name}=Keyword"] == DEV_SERVER_SEARCH_ATTRIBUTES


def test_the_module_imports_nothing_of_the_sdk() -> None:
    """Importing it loads no temporalio module: it starts the server while the SDK imports."""
    code = (
        "import sys; import agentic_loop.temporal.embedded; "
        "print(sorted(m for m in sys.modules if m.startswith('temporalio')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
