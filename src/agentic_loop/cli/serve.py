"""Long-running processes: `worker`, `server` (the dev server with its UI), `codec-server`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from agentic_loop.cli.common import (
    connect,
    default_address,
    encryption_text,
    fail,
    namespace_message,
    namespace_missing,
)
from agentic_loop.cli.local import mcp_for, tools_for
from agentic_loop.cli.output import describe_provider
from agentic_loop.config import Settings, default_db_path
from agentic_loop.llm import provider_from_settings
from agentic_loop.telemetry import configure_logging
from agentic_loop.temporal import dev_server as embedded
from agentic_loop.temporal.connection import client_connect_config, describe
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.worker import build_worker


async def _check_namespace(client: Client, settings: Settings) -> None:
    """Fail before the worker exists: its own validation would say so only after the SDK's
    core logged the refusal in its own words."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.namespace)
        )
    except RPCError as e:
        if namespace_missing(e):
            fail(namespace_message(settings))
        raise


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    plugin = AgentLoopPlugin(
        settings,
        provider=provider_from_settings(settings),
        tools=tools_for(args, settings),
        mcp=mcp_for(args, settings),
    )
    configure_logging(settings)
    try:
        # Before connecting: a server that cannot start is said at once, and the tools
        # printed below include the servers'.
        await plugin.start_mcp()
    except BaseException:
        await plugin.aclose()
        raise
    client = await connect(settings, plugin)
    address = describe(client_connect_config(settings, address_override=default_address(settings)))
    await _check_namespace(client, settings)
    worker = build_worker(client, task_queue=settings.task_queue)
    # `address` names the namespace and the connection's security ("plaintext": no TLS);
    # what the server keeps of the payloads is another matter, said on its own.
    print(
        f"Worker on {address}, {encryption_text(settings)}, task queue "
        f"{settings.task_queue!r}, LLM {describe_provider(plugin.provider)}, tools "
        f"{', '.join(plugin.tools.names())}. Ctrl-C stops it.",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with worker:
            await stop.wait()
    except RuntimeError as e:
        if namespace_missing(e):  # the worker's validation, at its start
            fail(namespace_message(settings))
        raise
    finally:
        await plugin.aclose()
    return 0


def cmd_server(args: argparse.Namespace, settings: Settings) -> int:
    db = args.db_filename or str(settings.db_filename or default_db_path())
    os.makedirs(os.path.dirname(os.path.abspath(db)), exist_ok=True)
    command = [
        embedded.temporal_cli(), "server", "start-dev",
        "--ip", args.ip,
        "--port", str(args.port),
        "--ui-port", str(args.ui_port),
        "--db-filename", db,
        "--namespace", settings.namespace,
        *embedded.dev_server_args(),
    ]  # fmt: skip
    print(f"Temporal dev server on {args.ip}:{args.port}, history in {db}")
    host = "localhost" if args.ip in ("127.0.0.1", "0.0.0.0") else args.ip
    print(f"Web UI: http://{host}:{args.ui_port}")
    print("Ctrl-C stops it.", flush=True)
    process = subprocess.Popen(command)

    def forward(signum: int, _frame: object) -> None:
        process.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    code = process.wait()
    # Killed by the signal we forwarded (before it could install its handler): a clean stop.
    return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM) else code


def cmd_codec_server(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until Ctrl-C."""
    from agentic_loop.temporal.codec_server import make_server

    configure_logging(settings)
    server = make_server(settings, host=args.host, port=args.port, no_auth=args.no_auth)
    print(
        f"Codec server on {server.url} (keys {', '.join(server.codec.key_ids)}), "
        f"for the origins {', '.join(sorted(server.origins))}. Ctrl-C stops it.",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
