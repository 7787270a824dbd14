"""The agent loop as a Temporal workflow: the loop (agent.py), the state it carries across
continue-as-new, the conversation's inbox, approvals, and the options of every activity.

AgentWorkflow is imported when first used: a module of this package (visibility.py's failure
types, say) must not cost its importer the whole loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentic_loop.lazy import lazy_attributes

_WHERE = {
    "AgentWorkflow": "agentic_loop.workflow.agent",
    "WORKFLOW_NAME": "agentic_loop.workflow.agent",
}

__all__ = ["WORKFLOW_NAME", "AgentWorkflow"]

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals(), __all__)

if TYPE_CHECKING:
    from agentic_loop.workflow.agent import WORKFLOW_NAME, AgentWorkflow
