"""A planted incompatible change, for test_notes_replay: the next release of AgentWorkflow as a
careless edit might make it, registered under the same name as a deploy would register it.

Every run now begins with a pause (say, to let the user add to the goal), so its first command
is a timer, where every recorded run's first command was the LLM activity: a worker running
this code would fail those workflows with a NondeterminismError. Gated with
`if workflow.patched("pause-first"):` it would replay them (agentic-loop's docs/versioning.md).

This module holds the workflow alone: the sandbox re-imports the module a workflow is defined
in, so it imports nothing the workflow does not need.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agentic_loop import AgentInput, AgentResult, AgentWorkflow


@workflow.defn(name="AgentWorkflow")
class PausesFirst(AgentWorkflow):
    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        await workflow.sleep(timedelta(seconds=5))
        return await super().run(input)
