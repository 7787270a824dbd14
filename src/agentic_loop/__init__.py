"""agentic-loop: a durable LLM agent loop on Temporal."""

from agentic_loop.types import (
    AgentInput,
    AgentProgress,
    AgentResult,
    AgentStatus,
    LLMRequest,
    LLMTurn,
    Message,
    RetrySettings,
    ToolCall,
    ToolRequest,
    ToolResult,
    TranscriptPage,
    TranscriptRequest,
    Usage,
)

__all__ = [
    "AgentInput",
    "AgentProgress",
    "AgentResult",
    "AgentStatus",
    "LLMRequest",
    "LLMTurn",
    "Message",
    "RetrySettings",
    "ToolCall",
    "ToolRequest",
    "ToolResult",
    "TranscriptPage",
    "TranscriptRequest",
    "Usage",
]
