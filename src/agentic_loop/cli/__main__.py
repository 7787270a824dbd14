"""`python -m agentic_loop.cli` runs the command."""

from agentic_loop.cli import entrypoint

entrypoint()
