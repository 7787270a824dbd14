"""A notes keeper built on agentic-loop: its tools are in notes_agent.tools."""
