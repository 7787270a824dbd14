"""The agent loop as a Temporal workflow: the loop (agent.py), the state it carries across
continue-as-new, the conversation's inbox, approvals, and the options of every activity."""

from agentic_loop.workflow.agent import WORKFLOW_NAME, AgentWorkflow

__all__ = ["WORKFLOW_NAME", "AgentWorkflow"]
