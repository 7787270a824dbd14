"""The example of docs/versioning.md: a new step in the loop, made carelessly and made safely.

The new step is a pause before the first LLM call (say, to let the user add to the goal by
signal); any new command would do: an activity, a timer, a child workflow. Both classes are
registered as "AgentWorkflow", as a new release of the real one would be.

This module holds workflows only: the sandbox re-imports the module a workflow is defined in,
so it imports nothing but the workflow's own dependencies.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agentic_loop.types import AgentInput, AgentResult
    from agentic_loop.workflow import AgentWorkflow

PATCH_ID = "pause-before-first-llm-call"
PAUSE = timedelta(seconds=5)


@workflow.defn(name="AgentWorkflow")
class UnguardedPause(AgentWorkflow):
    """The careless change: every run, including those already recorded, now starts with a
    timer, where their histories say the first command was the LLM activity."""

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        await workflow.sleep(PAUSE)
        return await super().run(input)


@workflow.defn(name="AgentWorkflow")
class GuardedPause(AgentWorkflow):
    """The safe change: runs that started before it replay as they were recorded; new runs
    record a patch marker and pause."""

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        if workflow.patched(PATCH_ID):
            await workflow.sleep(PAUSE)
        return await super().run(input)


@workflow.defn(name="AgentWorkflow")
class DeprecatedPause(AgentWorkflow):
    """Retirement, step 2: once no run that started before GuardedPause is open, the old path
    goes; deprecate_patch lets runs recorded by GuardedPause still replay."""

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        workflow.deprecate_patch(PATCH_ID)
        await workflow.sleep(PAUSE)
        return await super().run(input)


@workflow.defn(name="AgentWorkflow")
class RetiredPause(AgentWorkflow):
    """Retirement, step 3: once no run recorded by GuardedPause is open, the patch id goes."""

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        await workflow.sleep(PAUSE)
        return await super().run(input)
