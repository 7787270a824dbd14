"""`run`, `start` and `result`: an agent from its goal to its answer."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time

from agentic_loop.cli.common import (
    agent_input,
    await_result,
    connect,
    describe_provider,
    existing_handle,
    exit_code,
    local_agent,
    new_workflow_id,
    print_result,
    start_agent,
    to_json,
)
from agentic_loop.cli.steps import StepPrinter
from agentic_loop.config import Settings


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    value = agent_input(args, settings)
    out = sys.stdout
    quiet = args.json
    if not quiet:
        print(f"Goal: {value.goal}", file=out)
    async with local_agent(args, settings, worker=not args.no_worker) as agent:
        if not quiet:
            llm = describe_provider(agent.provider) if agent.provider else "the remote workers"
            print(f"LLM: {llm}", file=out)
            print(f"Temporal: {agent.where}", file=out, flush=True)
        workflow_id = args.id or new_workflow_id()
        handle = await start_agent(agent.client, value, workflow_id, settings)
        if not quiet:
            print(f"Workflow: {workflow_id}\n", file=out, flush=True)
        printer = StepPrinter(out)
        follower = None if quiet else asyncio.create_task(printer.follow(handle))
        try:
            result = await await_result(handle)
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
        if not quiet:
            await printer.poll(handle)
    if quiet:
        print(to_json(result), file=out)
    else:
        print_result(result, out)
        print(f"({time.monotonic() - started:.1f} s)", file=out)
    return exit_code(result)


async def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    value = agent_input(args, settings)
    client = await connect(settings)
    workflow_id = args.id or new_workflow_id()
    await start_agent(client, value, workflow_id, settings)
    print(to_json({"workflow_id": workflow_id}) if args.json else workflow_id)
    return 0


async def cmd_result(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect(settings)
    handle = await existing_handle(client, args.workflow_id, settings)
    result = await await_result(handle)
    if args.json:
        print(to_json(result))
    else:
        print_result(result, sys.stdout)
    return exit_code(result)
