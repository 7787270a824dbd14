"""Building the worker that runs AgentWorkflow and its activities; `agentic-loop worker`."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agentic_loop.activities import LLMActivities, ToolActivities
from agentic_loop.config import Settings
from agentic_loop.llm.base import LLMProvider
from agentic_loop.temporal.codec import SealedFailureConverter, codec_from_settings
from agentic_loop.tools import ToolRegistry, default_registry
from agentic_loop.transcript.cache import TranscriptCache
from agentic_loop.workflow import AgentWorkflow

# What a worker registers; the replayer must use exactly these to judge a history.
WORKFLOWS = [AgentWorkflow]


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The converter of every client, worker and replayer of this program (settings: from
    the environment unless given): the default one, through the payload codec, which seals
    payloads (and failure messages) when AGENTIC_LOOP_CODEC_KEYS is set, and otherwise only
    explains, on an encrypted history, which key it needs."""
    codec = codec_from_settings(settings if settings is not None else Settings.from_env())
    if not codec.encrypts:
        return dataclasses.replace(DataConverter.default, payload_codec=codec)
    return dataclasses.replace(
        DataConverter.default,
        payload_codec=codec,
        failure_converter_class=SealedFailureConverter,
    )


# Modules the workflow imports, taken from outside the sandbox instead of re-imported for
# every workflow run: each is deterministic and holds no state that runs could share.
# Re-importing the payload types alone cost about 10% of the CPU of a step
# (docs/performance.md). tests/unit/test_sandbox.py checks the list is complete.
PASSTHROUGH_MODULES = (
    "agentic_loop.activities",
    "agentic_loop.transcript.keys",
    "agentic_loop.types",
    "agentic_loop.workflow.approvals",
    "agentic_loop.workflow.inbox",
    "agentic_loop.workflow.options",
    "agentic_loop.workflow.policies",
    "agentic_loop.workflow.state",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with our workflow's modules passed through. Replayers use the
    same runner."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_worker(
    client: Client,
    *,
    task_queue: str,
    provider: LLMProvider,
    tools: ToolRegistry | None = None,
    cache: TranscriptCache | None = None,
    max_concurrent_activities: int = 200,
    max_cached_workflows: int = 2000,
) -> Worker:
    """A worker for the agent loop. An agent's activities mostly wait on the network, so
    concurrency is set well above the CPU count."""
    tools = tools if tools is not None else default_registry()
    cache = cache if cache is not None else TranscriptCache()
    llm = LLMActivities(provider, tools, cache)
    tool_runner = ToolActivities(tools, cache)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=[llm.call_llm, tool_runner.run_tool],
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        max_cached_workflows=max_cached_workflows,
    )
