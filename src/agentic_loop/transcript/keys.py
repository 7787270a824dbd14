"""Keys and checksums that the workflow and the worker must compute alike.

The hazard: the LLM activity's input refers to messages an earlier activity returned (an LLM
turn, a tool result) by key and checksum instead of carrying them (docs/performance.md), and
the worker looks them up in its cache under the key it computed when it produced them. If the
two sides ever built a key, or the message a checksum covers, differently, every lookup would
miss (each LLM call would pay a `transcript` query) or, worse, match the wrong message. So both
sides build keys and these messages here, and nowhere else. Changing any function below
changes what a running workflow's next request refers to: treat them as recorded.
"""

from __future__ import annotations

import hashlib
import json
import zlib

from agentic_loop.types import LLMTurn, Message, ToolResult, ToolSpec


def message_checksum(message: Message) -> int:
    """A fingerprint of everything the LLM is shown of a message."""
    parts = [message.role, message.content, message.tool_call_id or "", message.name or ""]
    parts.append("1" if message.is_error else "0")
    for call in message.tool_calls:
        parts += [call.id, call.name, call.arguments]
    return zlib.crc32("\x00".join(parts).encode("utf-8"))


def catalog_key(specs: list[ToolSpec]) -> str:
    """The key of a run's tool catalog: a fingerprint of all the model is shown of its tools,
    so the copy a worker's cache holds under it is the one the run recorded."""
    shown = [[s.name, s.description, s.parameters] for s in specs]
    text = json.dumps(shown, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"catalog/{len(specs)}/{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def llm_turn_key(conversation_id: str, turn: int) -> str:
    """The cache key of the assistant message that LLM turn `turn` returned."""
    return f"{conversation_id}/llm/{turn}"


def tool_idempotency_key(workflow_id: str, turn: int, call_id: str) -> str:
    """The idempotency key of a tool call: stable across retries, worker crashes and
    continue-as-new (the turn count carries), the same wherever the call runs."""
    return f"{workflow_id}/{turn}/{call_id}"


def tool_result_key(idempotency_key: str) -> str:
    """The cache key of the tool message a tool call returned."""
    return f"{idempotency_key}/result"


def tool_message(result: ToolResult) -> Message:
    """A tool's result as a transcript message (the tool activity caches the same one)."""
    return Message(
        role="tool",
        content=result.content,
        tool_call_id=result.call_id,
        name=result.name,
        is_error=result.is_error,
        agent_workflow_id=result.agent_workflow_id,
    )


def assistant_message(turn: LLMTurn) -> Message:
    """An LLM turn as a transcript message (the LLM activity caches the same one)."""
    return Message(role="assistant", content=turn.content, tool_calls=turn.tool_calls)
