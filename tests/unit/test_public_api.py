"""The public API: what a user imports from `agentic_loop`, pinned, and nothing behind an
underscore that a module of ours needs from another."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import agentic_loop
from support import modules_loaded_by

SRC = Path(agentic_loop.__file__).parent

# Removing or renaming one of these breaks users' code: make it a visible decision.
PUBLIC = {
    "AgentInput", "AgentLoopPlugin", "AgentProgress", "AgentResult", "AgentStatus",
    "AgentWorkflow", "AnthropicProvider", "ApprovalRequest", "CompletionRequest", "ConfigError",
    "LLMProvider",
    "LLMTurn", "Message", "OpenAIProvider", "ProviderError", "Reply", "RetrySettings",
    "RuleBasedLLM", "ScriptedLLM", "Settings", "SubAgent", "Tool", "ToolCall", "ToolContext",
    "ToolError",
    "ToolRegistry", "ToolResult", "TranscriptPage", "TranscriptRequest", "Usage", "UserMessage",
    "agent_result", "build_registry", "build_worker", "connect_client", "load_tools",
    "provider_error",
    "provider_from_settings", "read_transcript", "replayer", "start_dev_server",
    "start_time_skipping", "tool",
}  # fmt: skip


def test_the_public_names_are_pinned() -> None:
    """`agentic_loop.__all__` is exactly the pinned set, and every name resolves."""
    assert set(agentic_loop.__all__) == PUBLIC
    for name in agentic_loop.__all__:
        assert getattr(agentic_loop, name) is not None, name


def test_public_names_are_the_defining_modules_objects() -> None:
    """`from agentic_loop import X` is the very object its module defines (not a copy), so
    isinstance checks and registries agree whichever path a user imports from."""
    from agentic_loop.temporal.plugin import AgentLoopPlugin
    from agentic_loop.tools import tool
    from agentic_loop.workflow import AgentWorkflow

    assert agentic_loop.AgentLoopPlugin is AgentLoopPlugin
    assert agentic_loop.tool is tool
    assert agentic_loop.AgentWorkflow is AgentWorkflow


def test_importing_the_package_imports_none_of_its_parts() -> None:
    """`import agentic_loop` loads nothing heavy (the command's start-up pays for what each
    command uses, not for the whole API)."""
    loaded = modules_loaded_by("agentic_loop", ("agentic_loop.", "temporalio", "openai"))
    assert loaded == ["agentic_loop.lazy"]  # the 30 lines that make the rest lazy


# The modules of the commands that only talk to a server (start, status, result, ...).
COMMANDS = "agentic_loop.cli.conversation, agentic_loop.cli.agents"


def test_the_commands_that_only_talk_to_a_server_load_no_tools_and_no_provider() -> None:
    """The modules of `start`, `status`, `result`, `transcript`, `send` and the like import
    neither the tools' loading (`@tool`'s pydantic models, the built-ins, the entry points) nor
    a provider: only `run`, `chat` and `worker` need them, and import them when they start one
    (some 0.25 s of CPU a command otherwise). A package's lazy names (agentic_loop.tools,
    .llm, .workflow) are what keeps it so."""
    loaded = modules_loaded_by(
        f"{COMMANDS}, agentic_loop.outcome", ("agentic_loop.tools.", "agentic_loop.llm.")
    )
    # The registry and the tool type: what the activities a workflow names are typed with.
    assert loaded == [
        "agentic_loop.llm.base",
        "agentic_loop.llm.errors",
        "agentic_loop.llm.failover",
        "agentic_loop.llm.pricing",
        "agentic_loop.tools.agents",
        "agentic_loop.tools.base",
        "agentic_loop.tools.catalog",
        "agentic_loop.tools.registry",
    ]


def test_the_commands_that_only_talk_to_a_server_import_no_worker_side() -> None:
    """Neither the SDK's worker package nor our plugin (which brings it) is imported by the
    modules `start`, `status`, `result`, `transcript`, `send`, `approve` and `cancel` run,
    their logging and their connection: they connect `client_only` (some 0.2 s of CPU a
    command otherwise; `transcript` imports it only to replay a closed run)."""
    worker_side = (
        "temporalio.worker",
        "agentic_loop.temporal.plugin",
        "agentic_loop.telemetry.interceptor",
        "agentic_loop.transcript.closed_runs",
    )
    loaded = modules_loaded_by(
        f"{COMMANDS}, agentic_loop.cli.logs, agentic_loop.temporal.connection", worker_side
    )
    assert loaded == []


def test_no_module_imports_another_modules_underscore_names() -> None:
    """What one module needs of another is public there: `from agentic_loop.x import _y`
    appears nowhere in the package."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agentic_loop"):
                offenders += [
                    f"{path.relative_to(SRC)}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                ]
    assert offenders == []


def test_every_module_of_the_package_imports() -> None:
    """No module is left behind by a move (each imports on its own)."""
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name.endswith("__main__"):
            continue
        importlib.import_module(name)
