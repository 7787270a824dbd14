"""`record`: the histories of scripted runs with your tools, for your replay tests."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from agentic_loop.cli.common import fail, tools_for
from agentic_loop.config import Settings
from agentic_loop.testing.record import (
    RecordError,
    ScenarioScript,
    existing_histories,
    load_scenario_script,
    record_scripts,
)


@contextlib.asynccontextmanager
async def _embedded_server(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    """A dev server for as long as the recording takes, whatever TEMPORAL_ADDRESS says: a
    recording must not depend on whose server it ran on. The server prints a banner on our
    stdout, where only the command's own lines belong, so it starts with stdout on /dev/null."""
    from agentic_loop.temporal.dev_server import start_dev_server
    from agentic_loop.temporal.plugin import AgentLoopPlugin

    sys.stdout.flush()
    saved_stdout = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        env = await start_dev_server(plugin=AgentLoopPlugin(settings))
    finally:
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    try:
        yield env
    finally:
        await env.shutdown()


def _scripts(args: argparse.Namespace) -> tuple[list[ScenarioScript], Path]:
    """The scripts to record and where, or a one-line error before anything runs."""
    if not args.run_timeout > 0:
        fail("--timeout must be a positive number of seconds")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; name a directory for the histories")
    try:
        scripts = [load_scenario_script(Path(p)) for p in args.scripts]
    except RecordError as e:
        fail(str(e))
    existing = existing_histories(scripts, out)
    if existing and not args.overwrite:
        fail(
            f"{existing[0]} exists: a recorded history is kept, not replaced; pass --overwrite "
            "to replace it (never to make a failing replay pass)"
        )
    return scripts, out


async def cmd_record(args: argparse.Namespace, settings: Settings) -> int:
    scripts, out = _scripts(args)
    tools = tools_for(args, settings)
    failed = 0
    # Only the tools come from the environment: no codec key seals a recording (it must
    # replay on any machine), and no tracing header enters it.
    async with _embedded_server(Settings()) as env:
        try:
            async for outcome in record_scripts(
                env.client,
                scripts,
                out,
                tools=tools,
                overwrite=args.overwrite,
                run_timeout_seconds=args.run_timeout,
            ):
                if outcome.error is not None:
                    failed += 1
                    print(f"failed  {outcome.script.path}: {outcome.error}", file=sys.stderr)
                for path, run in outcome.written:
                    if args.json:
                        row = {"file": str(path), "scenario": outcome.script.name, **run.facts}
                        print(json.dumps(row, ensure_ascii=False), flush=True)
                    else:
                        events = run.facts["events"]
                        print(f"wrote  {path} ({events} events, {run.status})", flush=True)
        except RecordError as e:
            fail(str(e))
    return 1 if failed else 0
