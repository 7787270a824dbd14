"""Helpers for the production tests (connection, codec, tracing, metrics, logs)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from agentic_loop.config import DEFAULT_GOAL, Settings
from agentic_loop.llm.base import LLMProvider
from agentic_loop.temporal.dev_server import start_dev_server
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.types import AgentInput, AgentResult
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from support import load_script

# The seed's goal, and the words of the seed script's answer (fixtures/scripts/seed.json).
SEED_GOAL = DEFAULT_GOAL
SEED_ANSWER_WORDS = "8은 짝수입니다"


def dev_address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def settings_for(address: str, **env: str) -> Settings:
    """Settings as a worker would read them, from an environment of only these variables."""
    return Settings.from_env({"TEMPORAL_ADDRESS": address, **env})


@asynccontextmanager
async def dev_server(settings: Settings | None = None) -> Any:
    """An ephemeral dev server whose client has AgentLoopPlugin of `settings` (none set
    unless given: this process's environment must not leak into the tests)."""
    env = await start_dev_server(plugin=AgentLoopPlugin(settings or Settings()))
    try:
        yield env
    finally:
        await env.shutdown()


async def run_seed(
    client: Client,
    provider: LLMProvider | None = None,
    *,
    goal: str = SEED_GOAL,
    inline_tools: list[str] | None = None,
) -> tuple[AgentResult, WorkflowHandle[Any, AgentResult]]:
    """Run the seed's example to its end on a fresh worker of `client` and task queue
    (`inline_tools`: the input's, when not the default)."""
    task_queue = f"tq-{uuid.uuid4()}"
    worker = build_worker(client, task_queue=task_queue, provider=provider or load_script("seed"))
    async with worker:
        handle = await client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal=goal)
            if inline_tools is None
            else AgentInput(goal=goal, inline_tools=inline_tools),
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
    return result, handle


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return text.encode()


def _payload_data(node: Any) -> Iterator[bytes]:
    """Every payload `data` and metadata value of a history JSON tree, base64-decoded."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "metadata" and isinstance(value, Mapping):
                yield from (_b64(v) for v in value.values() if isinstance(v, str))
            elif key == "data" and isinstance(value, str):
                yield _b64(value)
            else:
                yield from _payload_data(value)
    elif isinstance(node, list):
        for item in node:
            yield from _payload_data(item)


def _unescaped(text: str) -> str:
    # The JSON converter escapes non-ASCII text (\uXXXX): show it as a reader would see it.
    try:
        return text + "\n" + json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return text


def readable_history(history_json: str) -> str:
    """A history as a reader of the server sees it: its JSON, plus each payload's bytes
    decoded (payload data is base64 in the JSON, so plaintext would hide there)."""
    decoded = [
        _unescaped(d.decode("utf-8", "replace")) for d in _payload_data(json.loads(history_json))
    ]
    # json.dumps escapes non-ASCII text; compare against the unescaped form too.
    as_text = json.dumps(json.loads(history_json), ensure_ascii=False)
    return "\n".join([history_json, as_text, *decoded])
