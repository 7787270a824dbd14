"""Worker affinity's parts that need no server (temporal/affinity.py, workflow/state.py,
config.py), and what it does on the time-skipping test server, where the kit's tests run.
The routing itself is tested on the dev server: tests/integration/test_worker_affinity.py."""

from __future__ import annotations

import uuid

import pytest

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.temporal.affinity import SEPARATOR, Affinity, worker_queue_name
from agentic_loop.temporal.plugin import AgentLoopPlugin, plugin_of
from agentic_loop.testing import Agents
from agentic_loop.tools import default_registry
from agentic_loop.types import AgentInput, AgentStatus
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.state import ConversationState


async def test_on_the_test_server_a_worker_keeps_every_call_on_the_shared_queue(
    agents: Agents,
) -> None:
    """The time-skipping server cannot say who polls a queue, so a worker there never takes
    itself for one of several: no queue of its own is named, every call stays on the shared
    queue (as the kit's tests always ran), and the run is not disturbed by the question."""
    client = agents.client
    queue = f"affinity-test-server-{uuid.uuid4()}"
    script = ScriptedLLM.from_data(
        {
            "turns": [
                {
                    "tool_calls": [
                        {"id": "c", "name": "calculator", "arguments": {"expression": "1+2"}}
                    ]
                },
                {"content": "3"},
            ]
        }
    )
    async with build_worker(client, task_queue=queue, provider=script, tools=default_registry()):
        handle = await client.start_workflow(
            AgentWorkflow.run, AgentInput(goal="add"), id=f"ts-{uuid.uuid4()}", task_queue=queue
        )
        assert (await handle.result()).status == AgentStatus.COMPLETED
        assert plugin_of(client).worker_queue(queue) is None
    history = await handle.fetch_history()
    queues = {
        e.activity_task_scheduled_event_attributes.task_queue.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert queues == {queue}


def test_the_state_carries_the_worker_queue() -> None:
    """carry() and resume() keep `worker_queue`: what crosses continue-as-new."""
    state = ConversationState.start("conv", "system", "goal")
    state.worker_queue = "q@host-1-abc"
    assert ConversationState.resume(state.carry("run-1")).worker_queue == "q@host-1-abc"


def test_a_worker_names_its_own_queue_when_a_call_came_to_the_wrong_worker() -> None:
    """A call names the worker's own queue when it came by that queue, or read its transcript
    back (it came to the wrong worker), or is a first call with route_first_calls ("always");
    not when it found its conversation here through the shared queue (the server brought it:
    eager start), nor for a first call otherwise; never with no other worker on the shared
    queue, for another queue, or past `capacity` calls in flight."""
    affinity = Affinity(capacity=2)
    own = "shared@h-1-aa"
    affinity.add("shared", own)
    assert affinity.queue_for("shared", read_back=True, first=False) is None  # alone
    affinity.shared_with_others.add("shared")
    assert affinity.queue_for("shared", read_back=True, first=False) == own
    assert affinity.queue_for("shared", read_back=False, first=False) is None
    assert affinity.queue_for("shared", read_back=False, first=True) is None
    assert affinity.queue_for(own, read_back=False, first=False) == own
    assert affinity.queue_for("other", read_back=True, first=False) is None
    affinity.route_first_calls = True
    assert affinity.queue_for("shared", read_back=False, first=True) == own
    with affinity.call(), affinity.call():
        assert affinity.queue_for(own, read_back=False, first=False) == own
        with affinity.call():
            assert affinity.queue_for(own, read_back=False, first=False) is None
    assert affinity.in_flight == 0
    affinity.remove(own)
    assert affinity.queue_for("shared", read_back=True, first=False) is None


def test_worker_queue_names_are_unique_and_say_whose() -> None:
    """Two names for one queue differ, and each starts with the shared queue's name."""
    names = {worker_queue_name("agents") for _ in range(50)}
    assert len(names) == 50
    assert all(n.startswith("agents" + SEPARATOR) for n in names)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", "off"), ("off", "off"), ("1", "auto"), ("auto", "auto"), ("ALWAYS", "always")],
)
def test_affinity_is_set_by_the_environment(value: str, expected: str) -> None:
    """AGENTIC_LOOP_WORKER_AFFINITY: auto, always or off (1 and 0 for auto and off); auto
    when unset."""
    assert Settings.from_env({"AGENTIC_LOOP_WORKER_AFFINITY": value}).worker_affinity == expected
    assert Settings.from_env({}).worker_affinity == "auto"


def test_a_bad_affinity_setting_is_a_one_line_error() -> None:
    """Anything else is a ConfigError naming the variable and the choices, from the
    environment and from the plugin's argument alike."""
    with pytest.raises(ConfigError, match=r"AGENTIC_LOOP_WORKER_AFFINITY='maybe': use auto"):
        Settings.from_env({"AGENTIC_LOOP_WORKER_AFFINITY": "maybe"})
    with pytest.raises(ConfigError, match=r"worker_affinity='sometimes': use auto"):
        AgentLoopPlugin(Settings(), worker_affinity="sometimes")
