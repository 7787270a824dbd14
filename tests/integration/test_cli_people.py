"""The command as people meet it: approvals without a prompt, answers at the prompt, Ctrl-C,
and every refusal as one line with exit code 2 (README: "Bad input ... is a one-line error").
Each test runs the real command in a process of its own."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from cli_support import CLI, cli_env, run_cli
from pty_support import TerminalRun
from temporalio.client import Client

from agentic_loop.cli.chat import parse_decision
from agentic_loop.llm.rule_based import RuleBasedLLM
from agentic_loop.worker import build_worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def _one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def _address(client: Client) -> str:
    return client.service_client.config.target_host


@pytest_asyncio.fixture(loop_scope="session")
async def served(client: Client) -> AsyncIterator[dict[str, str]]:
    """A worker with the rule-based LLM on a fresh task queue; the CLI's environment for it."""
    queue = f"people-{uuid.uuid4()}"
    async with build_worker(client, task_queue=queue, provider=RuleBasedLLM()):
        yield {"TEMPORAL_ADDRESS": _address(client), "AGENTIC_LOOP_TASK_QUEUE": queue}


def _unserved(client: Client) -> dict[str, str]:
    """The CLI's environment for a task queue that no worker polls."""
    return {"TEMPORAL_ADDRESS": _address(client), "AGENTIC_LOOP_TASK_QUEUE": f"none-{uuid.uuid4()}"}


# ---- 1. approvals in `run` ------------------------------------------------------------------


async def test_run_without_a_terminal_says_how_to_approve_and_the_approval_finishes_it() -> None:
    """`run --approve-tool` with the embedded server and no terminal says at once, on stderr,
    which command (with the embedded server's address) decides; running it finishes the run."""
    process = await asyncio.create_subprocess_exec(
        *CLI, "run", "--approve-tool", "web_search", "search for temporal",
        env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = await asyncio.wait_for(process.stderr.readline(), 60)
        told = line.decode()
        assert "web_search: temporal waits for approval" in told, told
        found = re.search(r"TEMPORAL_ADDRESS=(\S+) agentic-loop approve (\S+)", told)
        assert found is not None, told
        address, workflow_id = found.groups()
        approved = await run_cli("approve", workflow_id, TEMPORAL_ADDRESS=address)
        assert approved.returncode == 0, approved.stderr
        out, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert "Here is what I found" in out.decode()


async def test_run_at_a_terminal_asks_and_takes_no_with_a_reason_after_a_bad_answer() -> None:
    """At a terminal `run` asks at the prompt; "maybe" is asked again, and "no: too risky"
    rejects with the reason "too risky" whole (the prompt on stderr: --json owns stdout)."""
    run = TerminalRun("run", "--json", "--approve-tool", "web_search", "search for temporal")
    try:
        await run.wait_for("Approve web_search: temporal?", stream="err")
        run.type("maybe\n")
        await run.wait_for("Please answer y or n", stream="err")
        run.type("no: too risky\n")
        assert await run.wait() == 0, run.err
    finally:
        run.close()
    result = json.loads(run.out)
    audit = [m["content"] for m in result["transcript"] if m["role"] == "approval"]
    assert audit == ["rejected by user: too risky"]


@pytest.mark.parametrize(
    ("answer", "decision"),
    [
        ("y", (True, "")),
        ("YES", (True, "")),
        ("n", (False, "")),
        ("No", (False, "")),
        ("no", (False, "")),
        ("n not now", (False, "not now")),
        ("no: too risky", (False, "too risky")),
        ("maybe", None),
        ("nope", None),
        ("yno", None),
        ("", None),
    ],
)
def test_approval_answers_are_yes_or_no_with_an_optional_reason(
    answer: str, decision: tuple[bool, str] | None
) -> None:
    """y/yes/n/no in any case, a reason after them, and anything else is asked again (None)."""
    assert parse_decision(answer) == decision


# ---- 2./3. chat at a terminal ---------------------------------------------------------------


@pytest.mark.parametrize("where", ["embedded", "configured"])
async def test_ctrl_c_at_the_chat_prompt_ends_the_chat_at_once(client: Client, where: str) -> None:
    """Ctrl-C typed at `you>` ends the chat within seconds, without Enter: one line saying
    what became of the conversation (ended, on a configured server), exit code 130."""
    env = {} if where == "embedded" else _unserved(client)
    chat = TerminalRun("chat", "What is 1 + 1?", **env)
    try:
        await chat.wait_for("agent> 1 + 1 = 2", stream="out")
        await chat.wait_for("you> ", stream="out")
        typed = time.monotonic()
        chat.type("\x03")
        assert await chat.wait(within=30) == 130, chat.err
        assert time.monotonic() - typed < 15
    finally:
        chat.close()
    assert "Traceback" not in chat.err
    if where == "embedded":
        said = r"interrupted; the conversation chat-\w+ ended with the embedded server"
        assert re.search(said, chat.err), chat.err
        return
    found = re.search(r"interrupted; the conversation (chat-\w+) ended \(ended\)", chat.err)
    assert found is not None, chat.err
    status = await run_cli("result", found[1], "--json", **env)
    assert json.loads(status.stdout)["status"] == "ended"


async def test_chat_json_prints_only_the_result_on_stdout() -> None:
    """`chat --json` writes the result alone to stdout; the conversation goes to stderr."""
    done = await run_cli("chat", "--json", stdin="What is 12 * 7?\n/end\n")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert result["status"] == "ended"
    assert "agent> 12 * 7 = 84" in done.stderr


# ---- 4./5. refusals -------------------------------------------------------------------------


async def test_cancel_of_a_finished_workflow_is_refused(served: dict[str, str]) -> None:
    """`cancel` on a run that has ended says so in one line, exit 2."""
    started = await run_cli("start", "--json", "What is 2 + 2?", **served)
    workflow_id = json.loads(started.stdout)["workflow_id"]
    assert (await run_cli("result", workflow_id, **served)).returncode == 0
    _one_line_error(await run_cli("cancel", workflow_id, **served), workflow_id, "has ended")


async def test_start_with_the_id_of_a_running_workflow_is_one_line(client: Client) -> None:
    """A second `start --id X`, or a `run --id X`, while X runs names X, exit 2, no traceback."""
    env = _unserved(client)
    workflow_id = f"twice-{uuid.uuid4().hex[:8]}"
    assert (await run_cli("start", "--id", workflow_id, "hi", **env)).returncode == 0
    again = await run_cli("start", "--id", workflow_id, "hi", **env)
    _one_line_error(again, workflow_id, "already running")
    alongside = await run_cli("run", "--no-worker", "--id", workflow_id, "hi", **env)
    _one_line_error(alongside, workflow_id, "already running")


async def test_reading_an_encrypted_run_without_its_key_names_the_key(
    client: Client, tmp_path: Path
) -> None:
    """result, status and transcript of an encrypted run with no key or a wrong one: one line
    naming the key id, exit 2; the worker's banner says which key seals its payloads."""
    key = _key("k1")
    env = {**_unserved(client), "AGENTIC_LOOP_CODEC_KEYS": key}
    worker = await asyncio.create_subprocess_exec(
        *CLI, "worker", env=cli_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert worker.stdout is not None
        banner = (await asyncio.wait_for(worker.stdout.readline(), 60)).decode()
        assert "payloads encrypted with key 'k1'" in banner
        assert banner.count("namespace") == 1
        started = await run_cli("start", "--json", "What is 2 + 2?", **env)
        workflow_id = json.loads(started.stdout)["workflow_id"]
        assert (await run_cli("result", workflow_id, **env)).returncode == 0
        for keys in ("", _key("k1"), _key("k2")):
            for command in ("result", "status", "transcript"):
                done = await run_cli(
                    command, workflow_id, **{**env, "AGENTIC_LOOP_CODEC_KEYS": keys}
                )
                _one_line_error(done, "'k1'")
    finally:
        worker.send_signal(signal.SIGINT)
        await asyncio.wait_for(worker.wait(), 30)


async def test_an_unknown_namespace_is_named_by_start_status_and_worker(client: Client) -> None:
    """TEMPORAL_NAMESPACE=nope: start, status and worker each say the namespace does not
    exist (not that the workflow is unknown), one line, exit 2."""
    env = {**_unserved(client), "TEMPORAL_NAMESPACE": "nope"}
    for args in (["start", "hi"], ["status", "some-id"], ["worker"]):
        done = await run_cli(*args, deadline=60, **env)
        _one_line_error(done, "namespace 'nope' does not exist")
        assert "some-id" not in done.stderr


async def test_a_closed_pipe_ends_the_output_quietly(served: dict[str, str]) -> None:
    """`result --json` into a pipe whose reader is gone (`| head -c 10`) exits without a word."""
    started = await run_cli("start", "--json", "What is 2 + 2?", **served)
    workflow_id = json.loads(started.stdout)["workflow_id"]
    assert (await run_cli("result", workflow_id, **served)).returncode == 0
    read, write = os.pipe()
    os.close(read)  # the reader stopped reading before the answer came
    try:
        process = await asyncio.create_subprocess_exec(
            *CLI, "result", workflow_id, "--json",
            env=cli_env(**served), stdout=write, stderr=subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(write)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert err.decode() == ""
    assert process.returncode != 0


# Timed from the moment the command's own code runs, not from the spawn: until then the
# interpreter is starting (importing `site`, then `agentic_loop`), where a SIGINT ends any
# Python program with a traceback before it can install a handler, and on a busy machine that
# start alone took longer than 0.15 s (CI, stop 24). `-X importtime` reports each import as it
# completes; `agentic_loop.cli.parser` is the first one made inside `main`'s handlers.
@pytest.mark.parametrize("delay", [0.0, 0.2, 0.5])
async def test_ctrl_c_during_start_up_is_one_line(delay: float) -> None:
    """SIGINT at any moment of `run`'s start-up once its code runs (parsing, then the SDK's
    imports while the embedded server starts beside them) ends it with "interrupted" and exit
    code 130, never a traceback."""
    python, *module = CLI
    process = await asyncio.create_subprocess_exec(
        python, "-X", "importtime", *module, "run", "What is 1 + 2?",
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    before = b""
    while not before.rstrip().endswith(b"agentic_loop.cli.parser"):
        line = await asyncio.wait_for(process.stderr.readline(), 60)
        assert line, "the command ended before it parsed its arguments"
        before = line
    await asyncio.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, rest = await asyncio.wait_for(process.communicate(), 60)
    err = [line for line in rest.decode().splitlines() if not line.startswith("import time:")]
    assert not any("Traceback" in line for line in err), "\n".join(err)
    assert process.returncode == 130
    assert err[-1] == "agentic-loop: interrupted"


# ---- 6. no worker ---------------------------------------------------------------------------


async def test_status_and_transcript_without_a_worker_answer_in_seconds(client: Client) -> None:
    """With no worker on its task queue, `status` answers from the server at once (running,
    no worker polls the queue) and `transcript` says why it cannot, exit 2."""
    env = _unserved(client)
    started = await run_cli("start", "--json", "hi", **env)
    workflow_id = json.loads(started.stdout)["workflow_id"]
    began = time.monotonic()
    status = await run_cli("status", workflow_id, **env)
    assert time.monotonic() - began < 10
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("status: running")
    assert "no worker polls its task queue" in status.stdout
    assert "ended" not in status.stdout
    transcript = await run_cli("transcript", workflow_id, **env)
    _one_line_error(transcript, "no worker polls its task queue")


# ---- 7. the embedded server's hint ----------------------------------------------------------


async def test_the_embedded_server_is_suggested_only_where_it_helps(tmp_path: Path) -> None:
    """Unreachable Temporal: `run` with TEMPORAL_ADDRESS set suggests unsetting it; `start`
    with it set, or with the address from a temporal.toml profile, does not."""
    address = f"127.0.0.1:{_free_port()}"
    hint = "unset TEMPORAL_ADDRESS"
    run = await run_cli("run", "hi", deadline=60, TEMPORAL_ADDRESS=address)
    _one_line_error(run, address, hint)
    start = await run_cli("start", "hi", deadline=60, TEMPORAL_ADDRESS=address)
    _one_line_error(start, address)
    assert hint not in start.stderr
    profile = tmp_path / "temporal.toml"
    profile.write_text(f'[profile.default]\naddress = "{address}"\n')
    from_profile = await run_cli("start", "hi", deadline=60, TEMPORAL_CONFIG_FILE=str(profile))
    _one_line_error(from_profile, address)
    assert hint not in from_profile.stderr


# ---- 8. transcript windows ------------------------------------------------------------------


async def test_transcript_from_minus_three_is_the_last_three_by_their_index(
    served: dict[str, str],
) -> None:
    """`transcript --from -3` lists the last three messages, numbered by their real index."""
    started = await run_cli("start", "--json", "What is 2 + 2?", **served)
    workflow_id = json.loads(started.stdout)["workflow_id"]
    assert (await run_cli("result", workflow_id, **served)).returncode == 0
    every = await run_cli("transcript", workflow_id, "--json", **served)
    whole = [json.loads(line) for line in every.stdout.splitlines()]
    tail = await run_cli("transcript", workflow_id, "--json", "--from", "-3", **served)
    assert [json.loads(line) for line in tail.stdout.splitlines()] == whole[-3:]
    assert whole[-1]["index"] == len(whole) - 1


# ---- 9. polish ------------------------------------------------------------------------------


async def test_the_summary_counts_in_the_singular_and_only_turns_that_answered(
    tmp_path: Path,
) -> None:
    """One tool call reads "1 tool call"; a 401 on the first LLM call reads "0 LLM turns"."""
    done = await run_cli("run", "What is 6 * 7?")
    assert ", 1 tool call, " in done.stdout, done.stdout
    assert "2 LLM turns" in done.stdout
    script = Path(__file__).parents[2] / "fixtures" / "scripts" / "non_retryable_401.json"
    failed = await run_cli("run", "hello", AGENTIC_LOOP_LLM=f"scripted:{script}")
    assert failed.returncode == 1
    assert "[failed] 0 LLM turns, 0 tool calls" in failed.stdout, failed.stdout


async def test_status_of_a_finished_run_shows_no_turns_left(served: dict[str, str]) -> None:
    """`status` of a run that ended says how it ended and nothing about turns left."""
    started = await run_cli("start", "--json", "What is 2 + 2?", **served)
    workflow_id = json.loads(started.stdout)["workflow_id"]
    assert (await run_cli("result", workflow_id, **served)).returncode == 0
    status = await run_cli("status", workflow_id, **served)
    assert status.stdout.startswith("status: completed")
    assert "turns left" not in status.stdout


async def _help(command: str) -> str:
    shown = await run_cli(command, "--help")
    assert shown.returncode == 0, shown.stderr
    return " ".join(shown.stdout.split())  # as words: argparse wraps to the terminal's width


async def test_help_describes_arguments_and_server_takes_host() -> None:
    """Positional arguments and window options have help; `server` takes --host like
    codec-server (and --ip still); --json reads alike everywhere."""
    assert "the agent's workflow id" in await _help("status")
    assert "the message, as one argument" in await _help("send")
    assert "-3 for the last three" in await _help("transcript")
    server = await _help("server")
    assert "--host HOST, --ip HOST" in server
    assert "default 127.0.0.1" in server
    for command in ("run", "chat", "start", "result", "status", "transcript", "tools"):
        assert "as JSON instead of text" in await _help(command), command


# ---- 10. the fake model's language ----------------------------------------------------------


async def test_a_rejected_search_in_korean_is_answered_wholly_in_korean() -> None:
    """A Korean request whose search is rejected gets an answer with no English in it."""
    lines = "Temporal 재시도를 검색해줘\nn 지금은 안 돼요\n/end\n"
    done = await run_cli("chat", "--json", stdin=lines, AGENTIC_LOOP_APPROVAL_TOOLS="web_search")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)["answer"]
    assert "지금은 안 돼요" in answer
    assert re.search(r"[A-Za-z]", answer.replace("web_search", "")) is None, answer


async def test_chat_without_a_goal_shows_help_first_and_never_sends_commands() -> None:
    """`chat` with no goal prints its banner and the commands before the first prompt; /help
    (and an unknown /word) is answered by the chat and never reaches the model, so the
    conversation holds only the real messages."""
    typed = "/help\n/bogus\nWhat is 2 + 3?\n/help\n/end\n"
    done = await run_cli("chat", "--json", stdin=typed)
    assert done.returncode == 0, done.stderr
    before_prompt = done.stderr.split("you> ", 1)[0]
    assert "LLM: " in before_prompt
    assert "/help shows this" in before_prompt
    assert done.stderr.count("/help shows this") == 3  # at once, then for each /help
    assert "unknown command /bogus; /help lists them" in done.stderr
    result = json.loads(done.stdout)
    users = [m["content"] for m in result["transcript"] if m["role"] == "user"]
    assert users == ["What is 2 + 3?"]
    assert result["status"] == "ended"


async def test_a_rejection_without_a_reason_reads_as_one_plain_line() -> None:
    """Rejecting a call with a bare "n" shows one step line for it (no second "refused"
    line), and the answer says the person rejected it, with no dangling colon."""
    run = TerminalRun("run", "--approve-tool", "web_search", "search for temporal")
    try:
        await run.wait_for("Approve web_search: temporal?", stream="out")
        run.type("n\n")
        assert await run.wait() == 0, run.err
    finally:
        run.close()
    # (The typed answer's echo, which ends the prompt's line at a terminal, goes to the pty.)
    assert run.out.count("[turn 1] web_search") == 1, run.out
    assert "[turn 1] web_search rejected by user\n" in run.out, run.out
    assert "refused" not in run.out, run.out
    answer = run.out.split("Answer:", 1)[1].split("\n\n", 1)[0].strip()
    assert answer == "The web_search call did not run, because you rejected it.", run.out


async def test_a_run_refused_before_it_starts_leaves_no_server_behind() -> None:
    """The embedded server is started before the goal is checked; a refused goal stops it
    again, so no dev server process outlives the command."""
    namespace = f"refused-{uuid.uuid4().hex[:8]}"
    done = await run_cli("run", "   ", TEMPORAL_NAMESPACE=namespace)
    _one_line_error(done, "goal")
    pgrep = await asyncio.create_subprocess_exec(
        "pgrep", "-f", f"namespace {namespace}", stdout=subprocess.PIPE
    )
    left, _ = await pgrep.communicate()
    assert left == b"", left
