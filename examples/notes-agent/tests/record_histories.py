"""Record tests/histories from real runs of the scenarios (scenarios.py) on the Temporal dev
server, with the notes tools, as `temporal workflow show --output json` would export them.

    python examples/notes-agent/tests/record_histories.py               # the missing ones
    python examples/notes-agent/tests/record_histories.py --only rate_limited

A history that exists is kept: a replay that fails after a change is fixed in the code
(workflow.patched()), never by recording the history again. `--overwrite` is for a scenario
whose script itself changed. (agentic-loop's `agentic-loop record` records scripts the same
way from the command line.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from agentic_loop import AgentLoopPlugin, Settings, start_dev_server
from agentic_loop.testing import Agents
from temporalio.testing import WorkflowEnvironment

from notes_agent.tools import TOOLS
from notes_support import HISTORIES
from scenarios import RECORDED, Scenario


async def record(scenario: Scenario, env: WorkflowEnvironment, out: Path) -> Path:
    """Run one scenario to its end on a notes store of its own; the file its history went to."""
    with tempfile.TemporaryDirectory(prefix="notes-record-") as tmp:
        os.environ["NOTES_DB"] = str(Path(tmp) / "notes.db")
        scenario.seed_notes()
        async with Agents(env) as agents:
            handle = await agents.start(
                scenario.script, scenario.input, workflow_id=f"notes-{scenario.name}"
            )
            if scenario.drive is not None:
                await scenario.drive(handle)
            run = await agents.finish(handle)
    if run.result.status != scenario.expect:
        raise RuntimeError(
            f"{scenario.name} ended {run.result.status.value}, not {scenario.expect.value} "
            f"({run.result.error}); nothing was written"
        )
    [history] = run.histories
    target = out / f"{scenario.name}.json"
    target.write_text(history.to_json() + "\n", encoding="utf-8")
    return target


async def record_all(scenarios: list[Scenario], out: Path) -> None:
    # Settings(): a recording must not depend on who runs it (no codec key of theirs, say).
    env = await start_dev_server(plugin=AgentLoopPlugin(Settings(), tools=TOOLS))
    try:
        for scenario in scenarios:
            target = await record(scenario, env, out)
            print(f"wrote {target}")
    finally:
        await env.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", action="append", choices=[s.name for s in RECORDED])
    parser.add_argument("--overwrite", action="store_true", help="replace existing histories")
    parser.add_argument("--out", type=Path, default=HISTORIES)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    todo = []
    for scenario in RECORDED:
        if args.only and scenario.name not in args.only:
            continue
        if (args.out / f"{scenario.name}.json").exists() and not args.overwrite:
            print(f"kept {args.out / scenario.name}.json: it exists (--overwrite replaces it)")
            continue
        todo.append(scenario)
    asyncio.run(record_all(todo, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
