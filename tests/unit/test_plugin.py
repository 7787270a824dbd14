"""AgentLoopPlugin carries every client's, worker's and replayer's configuration, and every
client, worker and replayer the package builds takes it from there."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import agentic_loop
from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm.rule_based import RuleBasedLLM
from agentic_loop.telemetry import AgentInterceptor
from agentic_loop.temporal.codec import EncryptionCodec, generate_key
from agentic_loop.temporal.plugin import (
    PASSTHROUGH_MODULES,
    AgentLoopPlugin,
    registered_name,
    replayer,
)
from agentic_loop.types import AgentInput, LLMRequest, LLMTurn
from agentic_loop.worker import build_worker
from support import FIXTURES

SRC = Path(agentic_loop.__file__).parent
# The SDK's calls that make a client or a replayer; each must be handed the plugin. (Our own
# start_dev_server / start_time_skipping are the wrappers that do so.)
BUILDERS = {
    "Client.connect",
    "Client",
    "Replayer",
    "WorkflowEnvironment.start_local",
    "WorkflowEnvironment.start_time_skipping",
}


def _calls(path: Path) -> list[tuple[str, ast.Call]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found.append((ast.unparse(node.func), node))
    return found


def _client_side_only(path: Path, call: ast.Call) -> bool:
    """connect_client's `client_only` connection: what the plugin gives a client, made by
    the plugin's own functions (tests/integration/test_connection.py compares the two)."""
    return path == SRC / "temporal" / "connection.py" and any(
        k.arg is None and ast.unparse(k.value).startswith("_client_side(") for k in call.keywords
    )


def test_every_client_and_replayer_in_src_is_built_with_plugins() -> None:
    """No module of the package connects a client, starts a server's client or builds a
    replayer without handing it `plugins=`, but connect_client's client-only connection: a
    second place that configures one would drift."""
    bare = []
    for path in sorted(SRC.rglob("*.py")):
        for name, call in _calls(path):
            if name not in BUILDERS or any(k.arg == "plugins" for k in call.keywords):
                continue
            if not _client_side_only(path, call):
                bare.append(f"{path.relative_to(SRC)}:{call.lineno} {name}(...)")
    assert bare == []


def test_workers_are_built_only_by_build_worker() -> None:
    """`Worker(...)` appears in the package only in worker.py, where build_worker first
    demands the client's plugin (see the next test), and in temporal/affinity.py, where the
    plugin itself builds a worker-specific worker on the client of a worker it runs."""
    places = [
        f"{path.relative_to(SRC)}:{call.lineno}"
        for path in sorted(SRC.rglob("*.py"))
        for name, call in _calls(path)
        if name == "Worker"
    ]
    assert [p.split(":")[0] for p in places] == ["temporal/affinity.py", "worker.py"], places


async def test_build_worker_refuses_a_client_without_the_plugin(
    time_env: WorkflowEnvironment,
) -> None:
    """A client connected without AgentLoopPlugin gets no worker: a ConfigError says how."""
    bare = Client(time_env.client.service_client, namespace=time_env.client.namespace)
    with pytest.raises(ConfigError, match=r"plugins=\[AgentLoopPlugin\(\)\]"):
        build_worker(bare, task_queue="tq", provider=RuleBasedLLM())


async def test_a_worker_on_a_plugin_client_gets_workflow_runner_activities_interceptors(
    time_env: WorkflowEnvironment,
) -> None:
    """A plain `Worker(client, task_queue=...)` on a client with the plugin registers
    AgentWorkflow, our sandbox passthrough, both activities and the interceptor."""
    worker = Worker(time_env.client, task_queue=f"tq-{uuid.uuid4()}")
    config = worker.config(active_config=True)
    assert [registered_name(w) for w in config.get("workflows", [])] == ["AgentWorkflow"]
    names = sorted(registered_name(a) or "" for a in config.get("activities", []))
    assert names == ["call_llm", "run_tool"]
    runner = config.get("workflow_runner")
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert set(PASSTHROUGH_MODULES) <= set(runner.restrictions.passthrough_modules)
    interceptors = list(time_env.client.config(active_config=True)["interceptors"])
    assert any(isinstance(i, AgentInterceptor) for i in interceptors)


async def test_activities_given_under_our_names_win(time_env: WorkflowEnvironment) -> None:
    """A worker given its own `call_llm` (a test's fake, build_worker's other provider) keeps
    it; the plugin adds only what is missing, and never a second `call_llm`."""

    @activity.defn(name="call_llm")
    async def fake(request: LLMRequest) -> LLMTurn:
        return LLMTurn(content="fake")

    worker = Worker(time_env.client, task_queue=f"tq-{uuid.uuid4()}", activities=[fake])
    activities = worker.config(active_config=True).get("activities", [])
    assert [registered_name(a) for a in activities] == ["call_llm", "run_tool"]
    assert activities[0] is fake


async def test_the_plugin_seals_payloads_when_keys_are_set() -> None:
    """With AGENTIC_LOOP_CODEC_KEYS, the converter the plugin gives a client encrypts: the
    encoded input does not contain the goal."""
    plugin = AgentLoopPlugin(Settings(codec_keys=f"k1:{generate_key()}"))
    config = plugin.configure_client({})  # type: ignore[typeddict-item]
    converter = config["data_converter"]
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.encrypts
    [payload] = await converter.encode([AgentInput(goal="secret goal")])
    assert b"secret goal" not in payload.SerializeToString()


async def test_the_plugins_replayer_replays_a_recorded_history() -> None:
    """`replayer(plugin)` has the workflow and converter: a recorded seed history replays."""
    from temporalio.client import WorkflowHistory

    text = (FIXTURES / "histories" / "seed-v3.json").read_text(encoding="utf-8")
    history = WorkflowHistory.from_json("seed", text)
    result = await replayer(AgentLoopPlugin(Settings())).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None


async def test_a_runner_of_the_users_own_kind_is_left_alone(time_env: WorkflowEnvironment) -> None:
    """The plugin adds its passthrough to the SDK's sandbox, but leaves a runner the worker
    was given of another kind (unsandboxed, or a subclass) exactly as it was."""
    from temporalio.worker import UnsandboxedWorkflowRunner
    from temporalio.worker.workflow_sandbox import SandboxRestrictions

    class Mine(SandboxedWorkflowRunner):
        pass

    for runner in (UnsandboxedWorkflowRunner(), Mine(restrictions=SandboxRestrictions.default)):
        worker = Worker(time_env.client, task_queue=f"tq-{uuid.uuid4()}", workflow_runner=runner)
        assert worker.config(active_config=True).get("workflow_runner") is runner


def test_the_transcript_cache_takes_its_byte_bound_from_the_settings() -> None:
    """AGENTIC_LOOP_CACHE_MB sets the worker cache's byte bound (256 MiB unset); a bound
    that is not a positive number is a configuration error naming the variable."""
    assert AgentLoopPlugin(Settings()).cache.max_bytes == 256 * 1024 * 1024
    settings = Settings.from_env({"AGENTIC_LOOP_CACHE_MB": "1.5"})
    assert AgentLoopPlugin(settings).cache.max_bytes == 1_572_864
    with pytest.raises(ConfigError, match="AGENTIC_LOOP_CACHE_MB='0': use a positive number"):
        Settings.from_env({"AGENTIC_LOOP_CACHE_MB": "0"})
