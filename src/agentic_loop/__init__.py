"""agentic-loop: a durable LLM agent loop on Temporal.

What a user builds, runs and tests an agent with. Names are imported when first used, so
`import agentic_loop` (and the `agentic-loop` command) stays fast whatever it reaches.

    from agentic_loop import AgentLoopPlugin, AgentInput, AgentWorkflow, tool

    @tool
    def lookup(city: str) -> str:
        \"\"\"The weather in a city.\"\"\"
        ...

    plugin = AgentLoopPlugin(tools=[lookup])
    client = await Client.connect("localhost:7233", plugins=[plugin])
    async with Worker(client, task_queue="agents"):
        result = await client.execute_workflow(
            AgentWorkflow.run, AgentInput(goal="..."), id="agent-1", task_queue="agents"
        )
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentic_loop.lazy import lazy_attributes

# Public name -> the module that defines it.
_WHERE = {
    # the workflow and what crosses its boundary
    "AgentWorkflow": "agentic_loop.workflow",
    "AgentInput": "agentic_loop.types",
    "AgentResult": "agentic_loop.types",
    "AgentStatus": "agentic_loop.types",
    "AgentProgress": "agentic_loop.types",
    "ApprovalRequest": "agentic_loop.types",
    "Message": "agentic_loop.types",
    "Reply": "agentic_loop.types",
    "RetrySettings": "agentic_loop.types",
    "ToolCall": "agentic_loop.types",
    "ToolResult": "agentic_loop.types",
    "TranscriptPage": "agentic_loop.types",
    "TranscriptRequest": "agentic_loop.types",
    "Usage": "agentic_loop.types",
    "UserMessage": "agentic_loop.types",
    "LLMTurn": "agentic_loop.types",
    "SubAgent": "agentic_loop.types",
    # Temporal: the plugin, connecting, workers, servers, replay
    "AgentLoopPlugin": "agentic_loop.temporal.plugin",
    "replayer": "agentic_loop.temporal.plugin",
    "connect_client": "agentic_loop.temporal.connection",
    "build_worker": "agentic_loop.worker",
    "start_dev_server": "agentic_loop.temporal.dev_server",
    "start_time_skipping": "agentic_loop.temporal.dev_server",
    "read_transcript": "agentic_loop.transcript.reader",
    "agent_result": "agentic_loop.outcome",
    "Settings": "agentic_loop.config",
    "ConfigError": "agentic_loop.config",
    # tools
    "tool": "agentic_loop.tools",
    "Tool": "agentic_loop.tools",
    "ToolContext": "agentic_loop.tools",
    "ToolError": "agentic_loop.tools",
    "ToolRegistry": "agentic_loop.tools",
    "build_registry": "agentic_loop.tools",
    "load_tools": "agentic_loop.tools",
    # providers
    "LLMProvider": "agentic_loop.llm",
    "CompletionRequest": "agentic_loop.llm",
    "ProviderError": "agentic_loop.llm",
    "provider_error": "agentic_loop.llm",
    "provider_from_settings": "agentic_loop.llm",
    "OpenAIProvider": "agentic_loop.llm.openai",
    "AnthropicProvider": "agentic_loop.llm.anthropic",
    "RuleBasedLLM": "agentic_loop.llm",
    "ScriptedLLM": "agentic_loop.llm",
}

# Literal, so linters and type checkers read it; test_public_api checks it matches _WHERE.
__all__ = [
    "AgentInput",
    "AgentLoopPlugin",
    "AgentProgress",
    "AgentResult",
    "AgentStatus",
    "AgentWorkflow",
    "AnthropicProvider",
    "ApprovalRequest",
    "CompletionRequest",
    "ConfigError",
    "LLMProvider",
    "LLMTurn",
    "Message",
    "OpenAIProvider",
    "ProviderError",
    "Reply",
    "RetrySettings",
    "RuleBasedLLM",
    "ScriptedLLM",
    "Settings",
    "SubAgent",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "TranscriptPage",
    "TranscriptRequest",
    "Usage",
    "UserMessage",
    "agent_result",
    "build_registry",
    "build_worker",
    "connect_client",
    "load_tools",
    "provider_error",
    "provider_from_settings",
    "read_transcript",
    "replayer",
    "start_dev_server",
    "start_time_skipping",
    "tool",
]


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals(), __all__)


if TYPE_CHECKING:
    from agentic_loop.config import ConfigError, Settings
    from agentic_loop.llm import (
        CompletionRequest,
        LLMProvider,
        ProviderError,
        RuleBasedLLM,
        ScriptedLLM,
        provider_error,
        provider_from_settings,
    )
    from agentic_loop.llm.anthropic import AnthropicProvider
    from agentic_loop.llm.openai import OpenAIProvider
    from agentic_loop.outcome import agent_result
    from agentic_loop.temporal.connection import connect_client
    from agentic_loop.temporal.dev_server import start_dev_server, start_time_skipping
    from agentic_loop.temporal.plugin import AgentLoopPlugin, replayer
    from agentic_loop.tools import (
        Tool,
        ToolContext,
        ToolError,
        ToolRegistry,
        build_registry,
        load_tools,
        tool,
    )
    from agentic_loop.transcript.reader import read_transcript
    from agentic_loop.types import (
        AgentInput,
        AgentProgress,
        AgentResult,
        AgentStatus,
        ApprovalRequest,
        LLMTurn,
        Message,
        Reply,
        RetrySettings,
        SubAgent,
        ToolCall,
        ToolResult,
        TranscriptPage,
        TranscriptRequest,
        Usage,
        UserMessage,
    )
    from agentic_loop.worker import build_worker
    from agentic_loop.workflow import AgentWorkflow
