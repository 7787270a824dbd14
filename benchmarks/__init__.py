"""Benchmarks of agentic-loop against the naive design: run with `nox -s bench`.

See docs/performance.md for what is measured, why, and the figures of the last full run.
"""
