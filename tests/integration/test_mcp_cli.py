"""`--mcp FILE` (and AGENTIC_LOOP_MCP) on the command line: `tools` lists the servers' tools,
`run` uses them, and a bad file or a server that cannot start is one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import run_cli

from agentic_loop.testing import Script
from mcp_servers.support import journal, stdio_server, write_config


def _config(tmp_path: Path, **options: object) -> Path:
    return write_config(
        tmp_path / "mcp.json", {"box": stdio_server(tmp_path / "box.jsonl", **options)}
    )


async def test_tools_lists_the_mcp_servers_tools_with_the_others(tmp_path: Path) -> None:
    """`tools --mcp FILE` shows each server tool by its prefixed name, arguments, approval
    flag and source, after the built-ins; AGENTIC_LOOP_MCP names the file as well."""
    config = _config(tmp_path, approval=["record"])
    listed = await run_cli("tools", "--mcp", str(config))
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert f"box__add(a, b)  from MCP server box ({config.name})" in lines
    assert f"box__record(entry, hold) [approval]  from MCP server box ({config.name})" in lines
    assert lines.index(next(x for x in lines if x.startswith("calculator("))) < lines.index(
        f"box__add(a, b)  from MCP server box ({config.name})"
    )
    as_json = await run_cli("tools", "--json", AGENTIC_LOOP_MCP=str(config))
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    add = next(r for r in rows if r["name"] == "box__add")
    assert add["parameters"]["required"] == ["a", "b"]


async def test_a_bad_servers_file_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    """A file with a typo, a missing file and a server that cannot start each end the
    command with one line naming the problem, exit code 2 and no traceback."""
    typo = tmp_path / "typo.json"
    typo.write_text('{"mcpServers": {"box": {"comand": "python"}}}')
    dead = write_config(tmp_path / "dead.json", {"gone": {"command": str(tmp_path / "nothing")}})
    cases = [
        (("tools", "--mcp", str(typo)), f"MCP servers file {typo}: server 'box' needs"),
        (("run", "--mcp", str(tmp_path / "none.json"), "hi"), "none.json: cannot read it"),
        (("worker", "--mcp", str(dead)), "MCP server 'gone' did not start: FileNotFoundError"),
    ]
    for args, problem in cases:
        done = await run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("agentic-loop: error: "), done.stderr
        assert problem in done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


async def test_run_with_mcp_uses_a_server_tool(tmp_path: Path) -> None:
    """`run --mcp FILE` on the embedded server: the scripted model calls the stdio server's
    tool, the call reaches the server with its idempotency key, and the answer is printed."""
    config = _config(tmp_path)
    script = (
        Script()
        .calls("box__add", a=20, b=22, call_id="sum")
        .expect(role="tool", contains="20 + 22 = 42")
        .answers("The sum is 42.")
        .write(tmp_path / "script.json")
    )
    done = await run_cli(
        "run", "--json", "--mcp", str(config), "--id", "mcp-cli-run", "Add 20 and 22",
        AGENTIC_LOOP_LLM=f"scripted:{script}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["answer"]) == ("completed", "The sum is 42.")
    assert [r["key"] for r in journal(tmp_path / "box.jsonl", "add")] == ["mcp-cli-run/1/sum"]
