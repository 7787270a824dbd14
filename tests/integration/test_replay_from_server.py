"""`agentic-loop replay --from-server`: the runs a real dev server holds, of every kind and
with encryption on and off, replayed against the installed code; saved as fixture files."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner

# The sandbox re-imports this module to run ChangedPause in the replayer: what it imports
# comes from outside, and nothing at module level may touch the clock, randomness or env.
with workflow.unsafe.imports_passed_through():
    import pytest
    import pytest_asyncio
    from cli_support import run_cli

    from agentic_loop.config import Settings
    from agentic_loop.llm.scripted import ScriptedLLM
    from agentic_loop.outcome import agent_result
    from agentic_loop.replay import DIVERGED, OK, replay_from_server
    from agentic_loop.temporal.codec import generate_key
    from agentic_loop.types import AgentInput, AgentProgress, AgentResult, AgentStatus, UserMessage
    from agentic_loop.worker import build_worker
    from agentic_loop.workflow import AgentWorkflow
    from production_support import (
        SEED_GOAL,
        dev_address,
        dev_server,
        readable_history,
        run_seed,
    )
    from support import load_script, poll_until

CHAIN_ANSWERS = ["first answer", "second answer", "third answer"]
# A run that took this many runs to continue as new is a chain, not an accident.
CHAIN_RUNS = 3


@workflow.defn(name="AgentWorkflow")
class ChangedPause(AgentWorkflow):
    """An incompatible change: a timer before the first LLM call, where every recorded run
    scheduled the LLM activity."""

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        await workflow.sleep(timedelta(milliseconds=1))
        return await super().run(input)


# Failures left for FlakyWorkflow's first workflow tasks; read outside any sandbox.
FLAKY_FAILURES = [0]


@workflow.defn(name="AgentWorkflow")
class FlakyWorkflow(AgentWorkflow):
    """A worker bug that fails the first workflow task (the run is not failed: Temporal
    retries the task), then the loop as it is."""

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        if FLAKY_FAILURES[0] > 0:
            FLAKY_FAILURES[0] -= 1
            raise RuntimeError("a bug in this worker's code, fixed by the next attempt")
        return await super().run(input)


@dataclass
class Runs:
    """A dev server holding one run of each kind, and how to reach it from a subprocess."""

    client: Client
    address: str
    env: dict[str, str]
    # workflow id -> what kind of run it is
    kinds: dict[str, str]


def _task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


async def _status(client: Client, workflow_id: str) -> AgentProgress | None:
    try:
        progress: AgentProgress = await client.get_workflow_handle(workflow_id).query(
            AgentWorkflow.status
        )
    except RPCError:
        # Between two runs of a chain the new one may not have answered yet.
        return None
    return progress


async def _waiting_after(client: Client, workflow_id: str, turns: int) -> None:
    await poll_until(
        lambda: _status(client, workflow_id),
        lambda p: p is not None and p.phase == "waiting for the user" and p.turns == turns,
        what=f"{workflow_id} waiting for the user after {turns} turns",
    )


async def _make_runs(client: Client) -> dict[str, str]:
    """One run of each kind this test replays, by workflow id."""
    kinds: dict[str, str] = {}
    _, seed = await run_seed(client)
    kinds[seed.id] = "completed"

    failed_llm = f"wf-401-{uuid.uuid4()}"
    task_queue = _task_queue()
    async with build_worker(
        client, task_queue=task_queue, provider=load_script("non_retryable_401")
    ):
        handle = await client.start_workflow(
            AgentWorkflow.run,
            AgentInput(goal="What is 2 + 2?"),
            id=failed_llm,
            task_queue=task_queue,
        )
        # The agent failed, so its execution did too, carrying the result.
        result = await agent_result(handle)
        assert result.status == AgentStatus.FAILED
        kinds[failed_llm] = "status failed"

        # An empty goal fails the run itself (BadInput), not only its result.
        failed_run = f"wf-bad-input-{uuid.uuid4()}"
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(
                AgentWorkflow.run, AgentInput(goal=" "), id=failed_run, task_queue=task_queue
            )
        kinds[failed_run] = "execution failed"

    flaky = f"wf-flaky-{uuid.uuid4()}"
    task_queue = _task_queue()
    FLAKY_FAILURES[0] = 1
    async with build_worker(
        client,
        task_queue=task_queue,
        provider=load_script("seed"),
        workflows=[FlakyWorkflow],
        # The failure counter must be this module's, not a sandboxed copy of it.
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await client.execute_workflow(
            AgentWorkflow.run, AgentInput(goal=SEED_GOAL), id=flaky, task_queue=task_queue
        )
    events = (await client.get_workflow_handle(flaky).fetch_history()).events
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED in [e.event_type for e in events]
    kinds[flaky] = "workflow task failed once"

    chat = f"wf-chat-{uuid.uuid4()}"
    chain = f"wf-chain-{uuid.uuid4()}"
    task_queue = _task_queue()
    answers = ScriptedLLM.from_data({"turns": [{"content": a} for a in CHAIN_ANSWERS]})
    async with (
        build_worker(client, task_queue=task_queue, provider=load_script("seed")),
        build_worker(client, task_queue=f"{task_queue}-chain", provider=answers),
    ):
        await client.start_workflow(
            AgentWorkflow.run, AgentInput(goal=SEED_GOAL, chat=True), id=chat, task_queue=task_queue
        )
        await _waiting_after(client, chat, 2)
        kinds[chat] = "running"

        handle = await client.start_workflow(
            AgentWorkflow.run,
            # Few enough events that each wait for the user continues as new first.
            AgentInput(goal="q0", chat=True, continue_as_new_after_events=8),
            id=chain,
            task_queue=f"{task_queue}-chain",
        )
        for turn in range(1, len(CHAIN_ANSWERS)):
            await _waiting_after(client, chain, turn)
            await client.get_workflow_handle(chain).execute_update(
                AgentWorkflow.send_message, UserMessage(f"q{turn}")
            )
        await _waiting_after(client, chain, len(CHAIN_ANSWERS))
        await handle.signal(AgentWorkflow.end)
        assert (await handle.result()).status == AgentStatus.ENDED
        kinds[chain] = "continue-as-new chain"
    return kinds


async def _listed(client: Client, query: str = 'WorkflowType="AgentWorkflow"') -> list[Any]:
    return [e async for e in client.list_workflows(query)]


async def _wait_until_listed(client: Client, count: int, query: str | None = None) -> None:
    """Visibility lags the runs a little: wait until the server lists them all."""
    await poll_until(
        lambda: _listed(client, *([query] if query else [])),
        lambda listed: len(listed) >= count,
        what=f"{count} runs listed",
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["plain", "encrypted"])
async def runs(request: pytest.FixtureRequest) -> AsyncIterator[Runs]:
    """A dev server with a completed, a failed (result), a failed (run), a once-failed
    workflow task, a running and a continued-as-new conversation, encrypted or not."""
    env = (
        {"AGENTIC_LOOP_CODEC_KEYS": f"test:{generate_key()}"}
        if request.param == "encrypted"
        else {}
    )
    async with dev_server(Settings.from_env(env)) as server:
        kinds = await _make_runs(server.client)
        chain = next(i for i, k in kinds.items() if k == "continue-as-new chain")
        chain_runs = await _listed(server.client, f'WorkflowId="{chain}"')
        assert len(chain_runs) >= CHAIN_RUNS
        await _wait_until_listed(server.client, len(kinds) - 1 + len(chain_runs))
        yield Runs(server.client, dev_address(server), env, kinds)


async def _replay(runs: Runs, *args: str, **env: str) -> Any:
    return await run_cli("replay", *args, TEMPORAL_ADDRESS=runs.address, **{**runs.env, **env})


async def test_every_kind_of_run_replays_ok(runs: Runs) -> None:
    """Completed, failed, once-failed, running and continued-as-new runs each get an `ok`
    line naming workflow and run id, every run of a chain its own, and the exit code is 0."""
    done = await _replay(runs, "--from-server")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = await _listed(runs.client)
    assert sorted(done.stdout.splitlines()) == sorted(f"ok  {e.id} {e.run_id}" for e in listed)
    assert {e.id for e in listed} == set(runs.kinds)
    assert f"{len(listed)} replayed, 0 diverged, 0 errors" in done.stderr


async def test_json_lines_name_each_run_and_its_status(runs: Runs) -> None:
    """With --json each run is one object with its ids, execution status and result; the
    statuses cover running, failed, completed and continued-as-new."""
    done = await _replay(runs, "--from-server", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["result"] for r in rows} == {"ok"}
    assert {r["status"] for r in rows} == {"running", "completed", "failed", "continued_as_new"}
    chain = next(i for i, k in runs.kinds.items() if k == "continue-as-new chain")
    chain_rows = [r for r in rows if r["workflow_id"] == chain]
    assert len({r["run_id"] for r in chain_rows}) == len(chain_rows) >= CHAIN_RUNS


async def test_query_and_limit_choose_the_runs(runs: Runs) -> None:
    """--query picks the runs it matches (one chain's runs alone), --limit caps their number."""
    chain = next(i for i, k in runs.kinds.items() if k == "continue-as-new chain")
    done = await _replay(runs, "--from-server", "--query", f'WorkflowId="{chain}"')
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) >= CHAIN_RUNS
    assert all(line.startswith(f"ok  {chain} ") for line in lines)
    limited = await _replay(runs, "--from-server", "--limit", "2")
    assert limited.returncode == 0, limited.stderr
    assert len(limited.stdout.splitlines()) == 2


async def test_saved_histories_replay_from_the_directory(runs: Runs, tmp_path: Path) -> None:
    """--save writes <workflow_id>_<run_id>.json per run, payloads as the server keeps them
    (no goal text when encrypted), and `agentic-loop replay DIR` replays every file."""
    saved = tmp_path / "histories"
    done = await _replay(runs, "--from-server", "--save", str(saved))
    assert done.returncode == 0, done.stderr
    listed = await _listed(runs.client)
    files = sorted(saved.glob("*.json"))
    assert [f.name for f in files] == sorted(f"{e.id}_{e.run_id}.json" for e in listed)
    seed = next(i for i, k in runs.kinds.items() if k == "completed")
    [seed_file] = [f for f in files if f.name.startswith(f"{seed}_")]
    readable = readable_history(seed_file.read_text(encoding="utf-8"))
    assert (SEED_GOAL in readable) is (not runs.env)
    replayed = await _replay(runs, str(saved))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert sorted(replayed.stdout.splitlines()) == sorted(f"ok  {f}" for f in files)


async def test_decode_writes_readable_histories_that_replay_without_keys(
    runs: Runs, tmp_path: Path
) -> None:
    """With --decode every payload is written decoded: the goal can be read in the file, no
    payload is left encrypted, and the files replay with no key configured."""
    saved = tmp_path / "decoded"
    done = await _replay(runs, "--from-server", "--save", str(saved), "--decode")
    assert done.returncode == 0, done.stderr
    seed = next(i for i, k in runs.kinds.items() if k == "completed")
    [seed_file] = saved.glob(f"{seed}_*.json")
    text = seed_file.read_text(encoding="utf-8")
    assert SEED_GOAL in readable_history(text)
    for path in saved.glob("*.json"):
        assert "binary/encrypted" not in readable_history(path.read_text(encoding="utf-8"))
    replayed = await run_cli("replay", str(saved))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


@pytest.mark.parametrize("runs", ["encrypted"], indirect=True)
async def test_without_the_key_encrypted_runs_are_errors_naming_it(
    runs: Runs, tmp_path: Path
) -> None:
    """An encrypted run replayed without its key is an `error` (not `diverged`) naming the
    variable to set, on the server's runs and on their saved files alike; exit code 1."""
    saved = tmp_path / "sealed"
    done = await _replay(runs, "--from-server", "--save", str(saved), AGENTIC_LOOP_CODEC_KEYS="")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines, done.stderr
    assert all(line.startswith("error  ") for line in lines), done.stdout
    assert all("AGENTIC_LOOP_CODEC_KEYS is not set" in line for line in lines)
    from_files = await run_cli("replay", str(saved))
    assert from_files.returncode == 1
    assert all(
        line.startswith("error  ") and "AGENTIC_LOOP_CODEC_KEYS" in line
        for line in from_files.stdout.splitlines()
    )


async def test_a_changed_workflow_diverges_on_every_run(runs: Runs) -> None:
    """Replayed against a changed AgentWorkflow (a timer first), every run the server holds
    diverges with a nondeterminism error (the library function, given the changed code)."""
    outcomes = [o async for o in replay_from_server(runs.client, workflows=[ChangedPause])]
    assert len(outcomes) == len(await _listed(runs.client))
    assert {o.result for o in outcomes} == {DIVERGED}
    assert all("Nondeterminism" in o.reason for o in outcomes)
    # The same runs with the installed code: the divergence is the change's, not the runs'.
    again = [o async for o in replay_from_server(runs.client)]
    assert {o.result for o in again} == {OK}


async def test_progress_and_divergence_over_many_runs(tmp_path: Path) -> None:
    """Over fifty runs and one recorded by other code, progress shows on stderr, the other
    code's run is the one `diverged` line, and the exit code is 1."""
    async with dev_server() as server:
        client = server.client
        task_queue = _task_queue()
        async with build_worker(client, task_queue=task_queue, provider=load_script("seed")):
            handles = await asyncio.gather(
                *(
                    client.start_workflow(
                        AgentWorkflow.run,
                        AgentInput(goal=SEED_GOAL),
                        id=f"wf-many-{i}",
                        task_queue=task_queue,
                    )
                    for i in range(50)
                )
            )
            await asyncio.gather(*(h.result() for h in handles))
        other = "wf-other-code"
        task_queue = _task_queue()
        async with build_worker(
            client,
            task_queue=task_queue,
            provider=load_script("seed"),
            workflows=[ChangedPause],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            await client.execute_workflow(
                AgentWorkflow.run, AgentInput(goal=SEED_GOAL), id=other, task_queue=task_queue
            )
        await _wait_until_listed(client, 51)
        done = await run_cli("replay", "--from-server", TEMPORAL_ADDRESS=dev_address(server))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 51
    [diverged] = [line for line in lines if not line.startswith("ok  ")]
    assert diverged.startswith(f"diverged  {other} ")
    assert "Nondeterminism" in diverged
    assert "agentic-loop: 50 runs so far: " in done.stderr
    assert "50 replayed, 1 diverged, 0 errors" in done.stderr


async def test_a_query_the_server_refuses_or_that_matches_nothing(runs: Runs) -> None:
    """A malformed query is a one-line error with exit code 2; a query matching no run of
    ours passes (a deploy gate over an idle day has nothing to break) with a warning."""
    refused = await _replay(runs, "--from-server", "--query", "WorkflowType = = 'x'")
    assert refused.returncode == 2
    assert refused.stderr.startswith("agentic-loop: error: the server refused the query")
    assert len(refused.stderr.strip().splitlines()) == 1
    nothing = await _replay(runs, "--from-server", "--query", 'WorkflowId="no-such-run"')
    assert nothing.returncode == 0
    assert nothing.stdout == ""
    assert "warning: no runs of this program's workflows match" in nothing.stderr
