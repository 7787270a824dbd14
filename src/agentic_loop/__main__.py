"""`python -m agentic_loop` runs the command."""

from agentic_loop.cli import entrypoint

entrypoint()
