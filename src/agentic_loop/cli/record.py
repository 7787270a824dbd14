"""`record`: the histories of scripted runs with your tools, for your replay tests."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agentic_loop.cli.common import fail
from agentic_loop.cli.local import embedded_server, tools_for
from agentic_loop.config import Settings
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.testing.record import RecordError
from agentic_loop.testing.record_scripts import (
    ScenarioScript,
    existing_histories,
    load_scenario_script,
    record_scripts,
)


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
    async with embedded_server(AgentLoopPlugin(Settings())) as client:
        try:
            async for outcome in record_scripts(
                client,
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
