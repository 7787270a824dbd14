"""`replay`: judge histories against the workflow code installed here, from exported files
or fetched from the configured server."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from agentic_loop.cli.common import connect, fail
from agentic_loop.config import Settings

# Hundreds of runs take a while: a line on stderr this often says the command is alive.
PROGRESS_EVERY = 50


def _check_options(args: argparse.Namespace) -> None:
    server_only = [
        flag
        for flag, given in (
            ("--query", args.query is not None),
            ("--limit", args.limit is not None),
            ("--save", args.save is not None),
        )
        if given
    ]
    if not args.from_server:
        if server_only:
            fail(f"{' and '.join(server_only)} go with --from-server: add it, or drop them")
        if args.decode:
            fail("--decode goes with --from-server --save DIR")
        if not args.paths:
            fail("name the histories to replay (PATH...), or fetch them with --from-server")
        return
    if args.paths:
        fail("replay either the files named (PATH...) or the server's runs (--from-server)")
    if args.decode and args.save is None:
        fail("--decode applies to the files --save writes: add --save DIR")
    if args.limit is not None and args.limit < 1:
        fail("--limit must be at least 1")


async def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from agentic_loop.replay import replay_command
    from agentic_loop.temporal.plugin import AgentLoopPlugin

    _check_options(args)
    if args.from_server:
        return await _replay_from_server(args, settings)
    return await replay_command(args.paths, as_json=args.json, plugin=AgentLoopPlugin(settings))


async def _replay_from_server(args: argparse.Namespace, settings: Settings) -> int:
    """One line per run on stdout as it is judged, progress and a summary on stderr; 0 only
    if every run replays."""
    from temporalio.service import RPCError, RPCStatusCode

    from agentic_loop.replay import DIVERGED, ERROR, OK, SKIPPED, default_query, replay_from_server

    client = await connect(settings)
    query = args.query or default_query()
    counts: Counter[str] = Counter()
    save = Path(args.save) if args.save is not None else None
    try:
        async for outcome in replay_from_server(
            client, query, limit=args.limit, save=save, decode=args.decode
        ):
            text = json.dumps(asdict(outcome), ensure_ascii=False) if args.json else outcome.line()
            print(text, flush=True)
            counts[outcome.result] += 1
            seen = sum(counts.values())
            if seen % PROGRESS_EVERY == 0:
                print(
                    f"agentic-loop: {seen} runs so far: {counts[OK]} ok, {counts[DIVERGED]} "
                    f"diverged, {counts[ERROR]} errors",
                    file=sys.stderr,
                    flush=True,
                )
    except RPCError as e:
        if e.status == RPCStatusCode.INVALID_ARGUMENT and not counts:
            fail(f"the server refused the query {query!r}: {e.message}")
        fail(f"listing the runs failed after {sum(counts.values())} of them: {e.message}")
    summary = f"{counts[OK]} replayed, {counts[DIVERGED]} diverged, {counts[ERROR]} errors"
    skipped = counts[SKIPPED]
    print(summary + (f", {skipped} skipped" if skipped else ""), file=sys.stderr)
    if not counts[OK] and not counts[DIVERGED] and not counts[ERROR]:
        # Nothing ran in the window a deploy gate asks about: nothing can break, so the gate
        # passes, but says so (a query that is too narrow shows here).
        print(
            f"agentic-loop: warning: no runs of this program's workflows match {query!r} in "
            f"namespace {client.namespace!r}: nothing to replay",
            file=sys.stderr,
        )
        return 0
    return 0 if counts[DIVERGED] == counts[ERROR] == 0 else 1
