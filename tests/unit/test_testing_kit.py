"""agentic_loop.testing, the kit users test their agents with: Script, the fixtures and their
pytest plugin, AgentRun's assertions, replaying histories, and a server shared by tests that
cancel workflows mid-activity."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.workflow import NondeterminismError

from agentic_loop.config import Settings
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.scripted import ScriptedLLM, ScriptError
from agentic_loop.outcome import agent_result
from agentic_loop.temporal.codec import generate_key
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.testing import (
    AgentRun,
    Agents,
    AgentServers,
    ReplayFailed,
    Script,
    histories,
    replay,
    skips_time,
)
from agentic_loop.tools import default_registry
from agentic_loop.types import AgentInput, AgentResult, AgentStatus, LLMTurn
from agentic_loop.workflow import AgentWorkflow
from support import FIXTURES, SCRIPTS, modules_loaded_by

RunAgent = Callable[..., Any]
SCRIPT_FILES = sorted(SCRIPTS.glob("*.json"))
HISTORIES = FIXTURES / "histories"
SEED_GOAL = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"
SEED = (
    Script("The seed's example.")
    .expect(role="user", contains="5 + 3")
    .calls("calculator", expression="5 + 3")
    .expect(role="tool", contains="8")
    .answers("5 + 3 = 8입니다. 5에 3을 더하면 8이 됩니다. 8은 짝수입니다.")
)


# ---- Script ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCRIPT_FILES, ids=[p.name for p in SCRIPT_FILES])
def test_every_script_fixture_round_trips_exactly(path: Path, tmp_path: Path) -> None:
    """Read into a Script, a fixture script gives back its data unchanged, writes a file of the
    same data, and plays as the very model ScriptedLLM.from_file makes of it."""
    data = json.loads(path.read_text(encoding="utf-8"))
    script = Script.from_file(path)
    assert script.to_data() == data
    written = script.write(tmp_path / path.name)
    assert json.loads(written.read_text(encoding="utf-8")) == data
    assert Script.from_file(written) == script
    played, expected = script.llm(), ScriptedLLM.from_file(path)
    assert (played.turns, played.default_model) == (expected.turns, expected.default_model)


BUILT = {
    "seed": SEED,
    "retry_429": Script()
    .fails(429, times=3, message="Rate limit reached (scripted)", retry_after=60)
    .calls("calculator", expression="5 + 3")
    .expect(role="tool", contains="8")
    .answers("5 + 3 = 8."),
    "parallel_tools": Script()
    .expect(role="user")
    .calls("calculator", expression="12 * 7")
    .also_calls("web_search", query="durable execution")
    .expect(role="tool")
    .answers("12 * 7 = 84, and durable execution means the workflow survives crashes."),
    "malformed_args": Script()
    .calls("calculator", '{"expression": "2 + 2"')
    .expect(role="tool", contains="not valid JSON", is_error=True)
    .calls("calculator", expression="2 + 2")
    .expect(role="tool", contains="4")
    .answers("2 + 2 = 4."),
    "max_tokens": Script()
    .uses(60, 10)
    .calls("calculator", expression="1 + 1")
    .uses(60, 10)
    .calls("calculator", expression="2 + 2")
    .answers("never reached"),
    "max_turns": Script()
    .says("Step 1.")
    .calls("calculator", expression="1 + 1")
    .says("Step 2.")
    .calls("calculator", expression="2 + 2")
    .says("Step 3.")
    .calls("calculator", expression="3 + 3")
    .answers("never reached"),
    "approval_approved": Script()
    .expect(role="user")
    .calls("web_search", call_id="s1", query="durable execution")
    .expect(role="tool", is_error=False)
    .answers("Durable execution means a workflow survives crashes and restarts."),
    "non_retryable_401": Script()
    .fails(401, code="invalid_api_key", message="Incorrect API key provided")
    .answers("never reached"),
    "cancel_during_llm": Script().delays(600.0).answers("never returned"),
    "chat_message_queued": Script()
    .expect(role="user", contains="Hello")
    .delays(1.0)
    .answers("Hello! How can I help?")
    .expect(role="user", contains="2 + 2")
    .calls("calculator", expression="2 + 2")
    .expect(role="tool", contains="4")
    .answers("2 + 2 = 4."),
}


@pytest.mark.parametrize("name", BUILT)
def test_the_builder_means_what_the_json_scripts_say(name: str) -> None:
    """Built in Python, a fixture's conversation is turn for turn the file's data: calls
    (several in one turn, a call id, malformed arguments), answers, conditions, usage, text
    beside calls, and faults (status with retry-after and code, delay)."""
    data = json.loads((SCRIPTS / f"{name}.json").read_text(encoding="utf-8"))
    assert BUILT[name].to_data()["turns"] == data["turns"]


def test_timeouts_and_outages_are_the_faults_the_model_plays() -> None:
    """times_out and outage give the scripted model a timeout and an outage (503 unless a
    status is given) on the turn after them."""
    llm = (
        Script()
        .times_out(times=2)
        .outage(3600)
        .answers("ok")
        .outage(60, status=500)
        .answers("again")
        .llm()
    )
    first, second = llm.turns[0].faults, llm.turns[1].faults
    assert [(f.timeout, f.times) for f in first] == [(True, 2), (False, 1)]
    assert (first[1].outage_seconds, first[1].status) == (3600, 503)
    assert (second[0].outage_seconds, second[0].status) == (60, 500)


def test_a_script_is_never_changed_in_place() -> None:
    """Each method returns a new Script, so one script can begin several tests."""
    base = Script().calls("calculator", expression="1 + 1")
    answered = base.expect(role="tool").answers("2")
    assert len(base) == 1
    assert len(answered) == 2
    assert base.turns == [
        {"tool_calls": [{"name": "calculator", "arguments": {"expression": "1 + 1"}}]}
    ]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Script().answers("hi").expect(role="tool"), "applies to the turn after it"),
        (lambda: Script(), "the script has no turns: add one with answers"),
        (lambda: Script().also_calls("calculator"), "begin with calls()"),
        (lambda: Script().says("a").answers("b"), "use one"),
        (lambda: Script().turn({"faults": [{"colour": "red"}]}), "turn 1 of the script"),
    ],
    ids=["expect-at-the-end", "empty", "also-first", "text-twice", "unknown-field"],
)
def test_a_script_that_cannot_play_is_refused_with_a_sentence(
    build: Callable[[], Script], message: str
) -> None:
    """A script the model could not play is a ScriptError saying what to change, raised when
    it is written out, not in the middle of a run."""
    with pytest.raises(ScriptError, match=message):
        build().to_data()


# ---- running agents and asserting on them ----------------------------------------------------


async def test_run_agent_ends_with_transcript_history_and_passing_assertions(
    run_agent: RunAgent,
) -> None:
    """The kit's run_agent runs a Script to its end; the run has the whole transcript, the
    history, and the assertions a user needs, which pass on what happened."""
    run: AgentRun = await run_agent(SEED, goal=SEED_GOAL)
    assert run.result.status == AgentStatus.COMPLETED
    assert [m.role for m in run.transcript] == ["system", "user", "assistant", "tool", "assistant"]
    assert run.history.events[0].HasField("workflow_execution_started_event_attributes")
    call = run.assert_called("calculator", expression="5 + 3")
    result = run.tool_result(call)
    assert result is not None
    assert result.content == "8"
    run.assert_not_called("web_search")
    run.assert_attempts(1, 1)
    run.assert_history_under(100_000)
    await run.assert_replays()


async def test_failed_assertions_say_what_was_expected_and_what_happened(
    run_agent: RunAgent,
) -> None:
    """Each assertion that fails names what it expected and what the run did instead."""
    run: AgentRun = await run_agent(SEED, goal=SEED_GOAL)
    with pytest.raises(
        AssertionError,
        match=r"^expected a call of calculator with expression='6 \* 7', but the model "
        r'called calculator\(\{"expression": "5 \+ 3"\}\)$',
    ):
        run.assert_called("calculator", expression="6 * 7")
    with pytest.raises(AssertionError, match=r"^expected no call of calculator, but the model"):
        run.assert_not_called("calculator")
    with pytest.raises(
        AssertionError,
        match=r"^expected the LLM call of turn 1 to be attempted 3 times, but it was attempted "
        r"1 times \(attempts turn by turn: 1, 1\)$",
    ):
        run.assert_attempts(1, 3)
    with pytest.raises(AssertionError, match=r"turn 3 .* but the run made 2 LLM call\(s\)$"):
        run.assert_attempts(3, 1)
    with pytest.raises(
        AssertionError,
        match=r"^expected the history to stay under 100 bytes, but it is [\d,]+ bytes \(\d+ ev",
    ):
        run.assert_history_under(100)


async def test_retries_are_counted_turn_by_turn_in_skipped_time(run_agent: RunAgent) -> None:
    """Three 429s with retry-after 60 s show as 4 attempts of turn 1, three minutes of workflow
    time, and a few seconds at most of the wall clock."""
    started = time.monotonic()
    run: AgentRun = await run_agent(BUILT["retry_429"])
    assert time.monotonic() - started < 20
    assert run.result.status == AgentStatus.COMPLETED
    assert run.llm_attempts == [4, 1]
    run.assert_attempts(1, 4)
    assert run.elapsed >= timedelta(minutes=3)
    assert [r.attempt for r in run.provider.requests] == [1, 2, 3, 4, 1]  # type: ignore[union-attr]


async def test_a_transcript_bigger_than_the_result_is_read_whole(run_agent: RunAgent) -> None:
    """When the result keeps only the newest messages (a long conversation), the run's
    transcript is still the whole one, read through the transcript query."""
    long_text = "x" * 40_000
    script = Script().says(long_text).calls("calculator", expression="1 + 1").answers("It is 2.")
    run: AgentRun = await run_agent(script)
    assert run.result.transcript_start > 0  # the result alone would miss the first messages
    assert len(run.transcript) == run.result.transcript_length == 5
    assert run.transcript[2].content == long_text


class _NeverAnswers:
    """A model whose call never returns (until cancelled)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    @property
    def name(self) -> str:
        return "never"

    @property
    def default_model(self) -> str:
        return "never"

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class _DyingWorker:
    """Stands in for a worker that dies soon after it starts."""

    task_queue = "dying"

    async def run(self) -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("the worker lost its poller")

    async def shutdown(self) -> None:
        pass


async def test_a_worker_that_dies_fails_the_run_at_once(
    time_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose worker dies fails within moments, naming the worker and its error, rather
    than waiting out its deadline; closing the Agents raises the same."""
    monkeypatch.setattr("agentic_loop.worker.build_worker", lambda *a, **k: _DyingWorker())
    agents = Agents(time_env, deadline=30)
    started = time.monotonic()
    with pytest.raises(
        AssertionError, match="the worker of task queue dying died: the worker lost"
    ):
        await agents.run(Script().answers("never served"))
    assert time.monotonic() - started < 10
    with pytest.raises(AssertionError, match="died"):
        await agents.close()


async def test_a_run_past_its_deadline_fails_saying_where_it_stands(
    time_env: WorkflowEnvironment,
) -> None:
    """An agent that does not end in time fails the test with its status, not a bare
    timeout."""
    async with Agents(time_env, tools=default_registry()) as agents:
        handle = await agents.start(_NeverAnswers())
        with pytest.raises(
            AssertionError,
            match=r"did not end within 0.5 s of wall-clock time; it was running \(thinking\)",
        ):
            await agents.finish(handle, within=0.5)


async def test_agents_still_open_at_the_end_are_terminated_after_their_workers_stop(
    time_env: WorkflowEnvironment,
) -> None:
    """Closing Agents leaves no workflow of theirs running (their timers could otherwise wake
    them with no worker left), and a conversation can still be queried before that."""
    agents = Agents(time_env, tools=default_registry())
    handle = await agents.start(Script().answers("hi"), AgentInput(goal="hi", chat=True))
    progress = await handle.query(AgentWorkflow.status)
    assert progress.status == AgentStatus.RUNNING
    await agents.close()
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.TERMINATED


# ---- one server for tests that cancel workflows ----------------------------------------------


async def _cancel_mid_call(env: WorkflowEnvironment) -> None:
    """Cancel an agent while its LLM call is in flight; it ends cancelled at once."""
    llm = _NeverAnswers()
    async with Agents(env, tools=default_registry()) as agents:
        handle = await agents.start(llm, goal="think hard")
        await asyncio.wait_for(llm.started.wait(), 20)
        await handle.cancel()
        result: AgentResult = await agent_result(handle)
        assert result.status == AgentStatus.CANCELLED


async def test_a_server_left_unable_to_skip_time_is_replaced() -> None:
    """After a workflow is cancelled mid-activity the test server no longer skips time (its
    clock stays locked); the check after the test finds it so, and the next test gets a new
    server that does."""
    servers = AgentServers(AgentLoopPlugin(Settings()))
    try:
        env = await servers.get()
        assert await skips_time(env)
        await _cancel_mid_call(env)
        assert not await skips_time(env)  # the hazard servers.py describes
        assert not await servers.check(env)
        fresh = await servers.get()
        assert fresh is not env
        assert await skips_time(fresh)
        assert await servers.check(fresh)
        assert servers.replaced == 1
    finally:
        await servers.aclose()


async def test_an_agent_left_mid_activity_leaves_the_server_able_to_skip_time() -> None:
    """Agents stop their workers before terminating what is still open, so an activity in
    flight reports to an open workflow and the server's clock is freed."""
    servers = AgentServers(AgentLoopPlugin(Settings()))
    try:
        env = await servers.get()
        llm = _NeverAnswers()
        async with Agents(env, tools=default_registry()) as agents:
            await agents.start(llm, goal="think hard")
            await asyncio.wait_for(llm.started.wait(), 20)
        assert await skips_time(env)
    finally:
        await servers.aclose()


@pytest.mark.dev_server
async def test_a_test_marked_dev_server_runs_on_a_dev_server_of_the_session(
    agent_env: WorkflowEnvironment, agent_servers: AgentServers, agents: Agents
) -> None:
    """Marked dev_server in a time-skipping session, a test's agent_env (and its agents) is a
    dev server of the session's, which does not skip time, and not the session's test server;
    the check after the test keeps it."""
    if agent_servers.where != "time-skipping":
        pytest.skip("the mark changes nothing when the session's server is not the test server")
    assert not agent_env.supports_time_skipping
    assert agents.env is agent_env
    assert (await agent_servers.get()).supports_time_skipping
    assert await agent_servers.get(dev=True) is agent_env
    assert await agent_servers.check(agent_env)


# ---- replaying histories ---------------------------------------------------------------------


def test_histories_gives_one_param_per_history_named_by_its_file(tmp_path: Path) -> None:
    """histories(folder) yields every history file (the index left out) with its file name as
    the test id, and refuses a folder with none, which would replay nothing and pass."""
    params = histories(HISTORIES)
    expected = sorted(p.name for p in HISTORIES.glob("*.json") if p.name != "index.json")
    assert [p.id for p in params] == expected
    assert [p.values[0].name for p in params] == expected
    with pytest.raises(ValueError, match=rf"no workflow histories match \*\.json in {tmp_path}"):
        histories(tmp_path)


@workflow.defn(name="AgentWorkflow", sandboxed=False)
class _SleepsFirst(AgentWorkflow):
    """An incompatible change: every run now begins with a timer, where recorded runs began
    with the LLM activity."""

    @workflow.run
    async def run(self, input: AgentInput) -> AgentResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


async def test_replay_passes_a_recorded_history_and_names_the_file_when_it_diverges() -> None:
    """A recorded history replays; against a changed AgentWorkflow it fails with ReplayFailed,
    naming the file and the divergence, the replayer's NondeterminismError kept."""
    await replay(HISTORIES / "seed.json")
    with pytest.raises(ReplayFailed) as failed:
        await replay(HISTORIES / "seed.json", workflows=[_SleepsFirst])
    assert isinstance(failed.value.failure, NondeterminismError)
    message = str(failed.value)
    assert message.startswith(f"{HISTORIES / 'seed.json'} does not replay against this code")
    assert "Nondeterminism" in message
    assert "workflow.patched()" in message


async def test_replay_says_so_when_a_file_is_not_a_history(tmp_path: Path) -> None:
    """A file that is not a workflow history fails the test with the file and the reason."""
    (tmp_path / "notes.json").write_text('{"notes": []}', encoding="utf-8")
    with pytest.raises(AssertionError, match=r"notes.json cannot be replayed: not a workflow"):
        await replay(tmp_path / "notes.json")


async def test_encrypted_histories_replay_with_the_plugins_codec_keys() -> None:
    """A history sealed with the user's codec key replays with a plugin that has the key, and
    without it fails naming the key it needs."""
    sealed = AgentLoopPlugin(Settings(codec_keys=f"team-key:{generate_key()}"))
    servers = AgentServers(sealed)
    try:
        async with Agents(await servers.get(), tools=default_registry()) as agents:
            run = await agents.run(SEED, goal=SEED_GOAL)
    finally:
        await servers.aclose()
    await run.assert_replays()  # with the plugin the run's client had
    await replay(run.history, sealed)
    with pytest.raises(ReplayFailed, match="team-key"):
        await replay(run.history, AgentLoopPlugin(Settings()))


# ---- the pytest plugin -----------------------------------------------------------------------


def test_the_plugin_is_registered_and_imports_nothing_heavy(
    pytestconfig: pytest.Config,
) -> None:
    """Installing agentic-loop registers the plugin (pytest11 entry point, active here), and
    importing it, or its fixtures, loads neither Temporal nor OpenAI."""
    [point] = [p for p in entry_points(group="pytest11") if p.name == "agentic_loop"]
    assert point.value == "agentic_loop.testing.pytest_plugin"
    assert pytestconfig.pluginmanager.has_plugin("agentic_loop")
    modules = "agentic_loop.testing.pytest_plugin, agentic_loop.testing.fixtures"
    assert modules_loaded_by(modules, ("temporalio", "openai")) == []


USER_CONFTEST = '''
import pytest
from agentic_loop import AgentLoopPlugin, Settings, tool


@tool
def shout(text: str) -> str:
    """Upper-cases text.

    Args:
        text: What to shout.
    """
    return text.upper()


@pytest.fixture(scope="session")
def agent_plugin():
    return AgentLoopPlugin(Settings(), tools=[shout])
'''

USER_TESTS = """
import pytest
from agentic_loop.testing import Script


async def test_shouts(run_agent):
    script = Script().calls("shout", text="hi").expect(role="tool", contains="HI").answers("HI!")
    run = await run_agent(script, goal="shout hi")
    assert run.result.answer == "HI!"
    run.assert_called("shout", text="hi")


@pytest.mark.asyncio(loop_scope="function")
async def test_on_a_loop_of_its_own(agents):
    await agents.start(Script().answers("never"))


def test_on_a_server_that_is_not_there(agent_env):
    pass


@pytest.mark.time_skipping
def test_that_waits_a_day(agent_env):
    pass


@pytest.mark.time_skipping
@pytest.mark.dev_server
def test_marked_twice(agent_env):
    pass
"""

USER_CONFIG = """
[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
"""


def _user_project(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a project of the user's own, with nothing of ours but agentic-loop installed."""
    (tmp_path / "pyproject.toml").write_text(USER_CONFIG, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(USER_CONFTEST, encoding="utf-8")
    (tmp_path / "test_agent.py").write_text(textwrap.dedent(USER_TESTS), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_a_users_project_gets_the_fixtures_from_installing_agentic_loop(tmp_path: Path) -> None:
    """In a project with no conftest of ours, run_agent serves the tools of the user's
    agent_plugin; a test on another event loop is told which settings to change."""
    done = _user_project(tmp_path, "-k", "shouts or own")
    output = done.stdout + done.stderr
    assert "1 failed, 1 passed" in output, output
    assert "FAILED test_agent.py::test_on_a_loop_of_its_own" in output, output
    assert 'asyncio_default_test_loop_scope = "session"' in output, output


@pytest.mark.slow
def test_agent_env_names_a_server_that_cannot_be_reached(tmp_path: Path) -> None:
    """--agent-env=HOST:PORT with nothing listening there fails the test with a sentence that
    names the address and what to do; a test marked time_skipping is skipped there instead,
    and one marked both time_skipping and dev_server is refused."""
    done = _user_project(tmp_path, "-k", "server_that or a_day or twice", "--agent-env=127.0.0.1:9")
    output = done.stdout + done.stderr
    assert "1 skipped" in output, output
    assert "2 errors" in output, output
    assert "--agent-env=127.0.0.1:9: cannot connect to a Temporal server there" in output, output
    assert "needs the time-skipping server; --agent-env=127.0.0.1:9 waits in real" in output
    # A test marked for both kinds of server is refused in one line, before any server starts.
    assert "test_marked_twice is marked both time_skipping and dev_server" in output, output


@pytest.mark.slow
def test_without_pytest_asyncio_the_fixtures_say_what_to_install(tmp_path: Path) -> None:
    """With pytest-asyncio off, asking for a kit fixture fails saying to install it, and
    nothing else of the project breaks."""
    done = _user_project(tmp_path, "-k", "server_that", "-p", "no:asyncio")
    output = done.stdout + done.stderr
    assert "1 error" in output, output
    assert "needs pytest-asyncio: pip install pytest-asyncio" in output, output
