"""The scenarios recorded into fixtures/histories: each a script for the fake LLM, the
workflow input, the status it must end with, and, for conversations, a driver that acts on the
run while it goes (updates, signals, cancel), waiting for each state through the `status`
query with a deadline. scripts/record_histories.py records them."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.service import RPCError

from agentic_loop.testing.record import Driver, Handle
from agentic_loop.tools import ToolRegistry, agent_tool, default_registry, tool
from agentic_loop.types import (
    AgentInput,
    AgentProgress,
    AgentStatus,
    ApprovalRequest,
    SubAgent,
    UserMessage,
)
from agentic_loop.workflow import AgentWorkflow

ROOT = Path(__file__).resolve().parent.parent
# The MCP server of the mcp_tools scenario, written with the MCP SDK.
TOOLBOX = ROOT / "tests" / "mcp_servers" / "toolbox.py"
SCRIPTS = ROOT / "fixtures" / "scripts"
HISTORIES = ROOT / "fixtures" / "histories"
PACKAGE_PATH = "src/agentic_loop"
# Set by --from-commit for the recorder it runs on that commit's code: the commit's sha.
SOURCE_COMMIT_ENV = "AGENTIC_LOOP_RECORD_COMMIT"
INDEX_ABOUT = (
    "Event histories recorded by scripts/record_histories.py (`nox -s record`) on the embedded "
    "dev server. tests/replay replays each against the current code and checks that its "
    "recorded result still matches `expect`. A history is never re-recorded to make a failing "
    "replay pass: see docs/versioning.md."
)


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    input: AgentInput
    expect_status: AgentStatus
    notes: str = ""
    # None: the run is only started and awaited.
    drive: Driver | None = None
    # More than 1: the run continues as new at least this often, and every run's history is
    # its own file, <name>_run1.json, <name>_run2.json, ...
    min_runs: int = 1
    # The worker's tools, when not the built-ins: tools whose own options (@tool) matter.
    tools: Callable[[], ToolRegistry] | None = None
    # A second script: the worker then has a chain of two providers ("primary" playing
    # `script`, "fallback" playing this), for the failover between them.
    fallback_script: str | None = None
    # Sub-agents' scripts by the model each asks for (SubAgent.model): the worker's provider
    # then plays `script` for the parent and these for its children, whose histories are
    # recorded too, as <name>_child<n>.json.
    agent_scripts: tuple[tuple[str, str], ...] = ()
    # MCP servers whose tools the worker offers besides the others, as entries of an MCP
    # servers file (docs/mcp.md): started for the recording, stopped after it.
    mcp_servers: dict[str, dict[str, Any]] | None = None

    @property
    def script_path(self) -> Path:
        return SCRIPTS / self.script


# ---- driving a run --------------------------------------------------------------------------

# How long a driver waits for the run to reach a state before it gives up on the scenario.
DRIVE_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.05


class DriveError(RuntimeError):
    """The run did not do what its scenario's driver expected of it."""


async def _status(handle: Handle) -> AgentProgress:
    progress: AgentProgress = await handle.query(AgentWorkflow.status)
    return progress


async def until(handle: Handle, check: Callable[[AgentProgress], bool], what: str) -> AgentProgress:
    """Poll the status query until `check` holds, within a deadline (never a fixed sleep)."""
    last: AgentProgress | None = None
    try:
        async with asyncio.timeout(DRIVE_TIMEOUT_SECONDS):
            while True:
                try:
                    last = await _status(handle)
                except RPCError:
                    # Between two runs of a continue-as-new the newest one may not have run its
                    # first workflow task yet; it answers a moment later.
                    last = None
                if last is not None and check(last):
                    return last
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        raise DriveError(
            f"the run was not {what} within {DRIVE_TIMEOUT_SECONDS:g} s (last status: {last})"
        ) from None


async def until_activity_started(handle: Handle, name: str) -> None:
    """Wait until an activity of this type has been picked up by the worker (not only
    scheduled), so what the driver does next meets it in flight."""
    try:
        async with asyncio.timeout(DRIVE_TIMEOUT_SECONDS):
            while True:
                described = await handle.describe()
                for pending in described.raw_description.pending_activities:
                    started = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                    if pending.activity_type.name == name and started:
                        return
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        raise DriveError(f"no {name} activity started within {DRIVE_TIMEOUT_SECONDS:g} s") from None


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise DriveError(what)


def waiting_for_user(progress: AgentProgress) -> bool:
    return progress.phase == "waiting for the user"


def waiting_for_approval(progress: AgentProgress) -> bool:
    return progress.phase == "waiting for approval"


def answered_after(turns: int) -> Callable[[AgentProgress], bool]:
    """Waiting for the user, with exactly `turns` LLM turns taken in all."""
    return lambda progress: waiting_for_user(progress) and progress.turns == turns


async def chat_wait_then_end(handle: Handle) -> None:
    """Goal answered; one message, its answer awaited through the update; then `end`."""
    await until(handle, waiting_for_user, "waiting for the user after the goal")
    reply = await handle.execute_update(
        AgentWorkflow.send_message, UserMessage("And doubled?", wait_for_answer=True)
    )
    expect(
        (reply.request, reply.status, reply.answer)
        == (2, AgentStatus.COMPLETED, "Doubled, it is 16."),
        f"send_message replied {reply}",
    )
    await handle.signal(AgentWorkflow.end)


async def chat_message_queued(handle: Handle) -> None:
    """A message sent without waiting while the first answer is still being written: accepted
    at once, answered after the goal; then `end`."""
    await until_activity_started(handle, "call_llm")
    reply = await handle.execute_update(AgentWorkflow.send_message, UserMessage("What is 2 + 2?"))
    expect(
        (reply.request, reply.status, reply.answer) == (2, AgentStatus.RUNNING, None),
        f"send_message without waiting replied {reply}",
    )
    await until(handle, answered_after(3), "waiting for the user with the message answered")
    await handle.signal(AgentWorkflow.end)


def decide(approved: bool, reason: str) -> Driver:
    """Wait for the call s1 to ask for approval, then approve or reject it with `reason`."""

    async def drive(handle: Handle) -> None:
        waiting = await until(handle, waiting_for_approval, "waiting for approval")
        asked = [c.id for c in waiting.awaiting_approval]
        expect(asked == ["s1"], f"awaiting approval: {asked}, not ['s1']")
        update = AgentWorkflow.approve if approved else AgentWorkflow.reject
        decided = await handle.execute_update(update, ApprovalRequest("s1", reason))
        expect(decided == ["s1"], f"the decision was taken for {decided}, not ['s1']")

    return drive


async def cancel_during_llm_call(handle: Handle) -> None:
    """Cancel the run while its first LLM call is running on the worker."""
    await until_activity_started(handle, "call_llm")
    await handle.cancel()


CAN_MESSAGES = [
    "q0: what is durable execution?",
    "q1: and why does it matter?",
    "q2: how does Temporal provide it?",
]


async def chat_across_runs(handle: Handle) -> None:
    """Three requests, each with an approved search, over a run that continues as new every
    few events; then `end`."""
    for i in range(len(CAN_MESSAGES)):
        await until(handle, waiting_for_approval, f"waiting for approval of request {i + 1}")
        await handle.execute_update(AgentWorkflow.approve, ApprovalRequest(reason=f"ok {i}"))
        await until(
            handle, answered_after(2 * i + 2), f"waiting for the user after request {i + 1}"
        )
        if i + 1 < len(CAN_MESSAGES):
            await handle.execute_update(
                AgentWorkflow.send_message, UserMessage(CAN_MESSAGES[i + 1])
            )
    await handle.signal(AgentWorkflow.end)


@tool(approval=True, timeout_seconds=20)
def publish(text: str) -> str:
    """Publish a note for the team (a side effect a person approves first)."""
    return f"published: {text}"


def tools_with_approval() -> ToolRegistry:
    registry = default_registry()
    registry.register(publish)
    return registry


RESEARCHER = SubAgent(
    name="researcher",
    description="Looks things up on the web and reports what it found.",
    system_prompt="You research one question and answer it in a sentence.",
    tools=["web_search"],
    model="researcher",
    max_turns=4,
)
MATHEMATICIAN = SubAgent(
    name="mathematician",
    description="Works out arithmetic exactly.",
    tools=["calculator"],
    model="mathematician",
    max_turns=4,
)


def tools_with_a_sub_agent() -> ToolRegistry:
    """The built-ins and the mathematician, a sub-agent of the worker's (not the input's)."""
    registry = default_registry()
    registry.register(agent_tool(MATHEMATICIAN, source="scenario"))
    return registry


SEED_GOAL = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"

SCENARIOS = [
    Scenario("seed", "seed.json", AgentInput(goal=SEED_GOAL), AgentStatus.COMPLETED),
    Scenario(
        "parallel_tools",
        "parallel_tools.json",
        AgentInput(goal="What is 12 * 7, and what does durable execution mean?"),
        AgentStatus.COMPLETED,
        notes="the calculator runs as the input says (inline in the LLM activity since inline "
        "tools; before, a local activity, a marker), web_search as an activity",
    ),
    Scenario(
        "parallel_tools_as_activities",
        "parallel_tools.json",
        AgentInput(
            goal="What is 12 * 7, and what does durable execution mean?",
            local_tools=[],
            inline_tools=[],
        ),
        AgentStatus.COMPLETED,
        notes="local_tools=[] (and inline_tools=[] since inline tools): both tools are regular "
        "activities, scheduled together",
    ),
    Scenario(
        "seed_local_activity",
        "seed.json",
        AgentInput(goal=SEED_GOAL, inline_tools=[]),
        AgentStatus.COMPLETED,
        notes="inline_tools=[]: the calculator runs as a local activity (a marker)",
    ),
    Scenario(
        "retry_429",
        "retry_429_short.json",
        AgentInput(goal="What is 5 + 3?"),
        AgentStatus.COMPLETED,
        notes="the first LLM call is rate-limited twice (retry-after 0.2 s), then answers",
    ),
    Scenario(
        "tool_error_corrected",
        "tool_error_corrected.json",
        AgentInput(goal="What is 6 * 7?"),
        AgentStatus.COMPLETED,
    ),
    Scenario(
        "max_turns",
        "max_turns.json",
        AgentInput(goal="Keep calculating.", max_turns=3),
        AgentStatus.MAX_TURNS,
    ),
    Scenario(
        "non_retryable_401",
        "non_retryable_401.json",
        AgentInput(goal="What is 2 + 2?"),
        AgentStatus.FAILED,
        notes="call_llm fails once, non-retryable; the workflow completes with status failed",
    ),
    Scenario(
        "unknown_tool",
        "unknown_tool.json",
        AgentInput(goal="What is the weather in Seoul?"),
        AgentStatus.COMPLETED,
    ),
    Scenario(
        "malformed_args",
        "malformed_args.json",
        AgentInput(goal="What is 2 + 2?"),
        AgentStatus.COMPLETED,
    ),
    # ---- conversations, driven from outside while they run ----
    Scenario(
        "chat_wait_then_end",
        "chat_wait_then_end.json",
        AgentInput(goal="What is 5 + 3?", chat=True),
        AgentStatus.ENDED,
        notes="goal answered; send_message(wait_for_answer=True) answered; then the end signal",
        drive=chat_wait_then_end,
    ),
    Scenario(
        "chat_message_queued",
        "chat_message_queued.json",
        AgentInput(goal="Hello!", chat=True),
        AgentStatus.ENDED,
        notes=(
            "send_message without waiting, accepted during the first LLM call (scripted 1 s "
            "delay) and answered after it; then the end signal"
        ),
        drive=chat_message_queued,
    ),
    Scenario(
        "approval_approved",
        "approval_approved.json",
        AgentInput(goal="What is durable execution?", approval_required=["web_search"]),
        AgentStatus.COMPLETED,
        notes="web_search waits for approval; the approve update lets it run",
        drive=decide(True, "looks fine"),
    ),
    Scenario(
        "tool_approval",
        "tool_approval.json",
        AgentInput(goal="Publish a note saying the build is green"),
        AgentStatus.COMPLETED,
        notes=(
            "publish is registered with @tool(approval=True) on the worker and listed nowhere "
            "in the input: the LLM turn records that its call needs approval, and the workflow "
            "waits for the approve update"
        ),
        drive=decide(True, "ship it"),
        tools=tools_with_approval,
    ),
    Scenario(
        "failover",
        "failover_primary.json",
        AgentInput(goal="What is 5 + 3?"),
        AgentStatus.COMPLETED,
        notes=(
            "the worker's chain is primary,fallback; primary answers 503 to every call, which "
            "counts as an outage on the third attempt: the failure records the next provider "
            "and the workflow moves the turn, and the one after, to fallback"
        ),
        fallback_script="failover_fallback.json",
    ),
    Scenario(
        "approval_rejected",
        "approval_rejected.json",
        AgentInput(goal="What is durable execution?", approval_required=["web_search"]),
        AgentStatus.COMPLETED,
        notes="web_search waits for approval; the reject update's reason reaches the LLM",
        drive=decide(False, "no web today"),
    ),
    Scenario(
        "approval_expired",
        "approval_expired.json",
        AgentInput(
            goal="What is durable execution?",
            approval_required=["web_search"],
            approval_timeout_seconds=1.5,
        ),
        AgentStatus.COMPLETED,
        notes="nobody decides: after 1.5 s the call counts as rejected (decided_by timeout)",
    ),
    Scenario(
        "idle_timeout",
        "chat_idle_timeout.json",
        AgentInput(goal="Hello!", chat=True, idle_timeout_seconds=1.5),
        AgentStatus.IDLE_TIMEOUT,
        notes="the goal is answered, then no message within the 1.5 s idle timeout",
    ),
    Scenario(
        "cancelled_during_llm",
        "cancel_during_llm.json",
        AgentInput(goal="Think about this for a long time."),
        AgentStatus.CANCELLED,
        notes="cancelled while the first LLM call (a scripted 600 s delay) runs on the worker",
        drive=cancel_during_llm_call,
    ),
    Scenario(
        "max_tokens",
        "max_tokens.json",
        AgentInput(goal="Count for me.", max_total_tokens=100),
        AgentStatus.MAX_TOKENS,
        notes="70 tokens a turn: the budget of 100 is spent after turn 2, before its tool runs",
    ),
    Scenario(
        "chat_continue_as_new",
        "chat_continue_as_new.json",
        AgentInput(
            goal=CAN_MESSAGES[0],
            chat=True,
            approval_required=["web_search"],
            continue_as_new_after_events=24,
        ),
        AgentStatus.ENDED,
        notes=(
            "three requests, each with an approved web_search; continue-as-new once a run "
            "has 24 events (before an LLM call, or while waiting for the user): one file per "
            "run, all but the last ending in continue-as-new"
        ),
        drive=chat_across_runs,
        min_runs=3,
    ),
    Scenario(
        "sub_agents",
        "sub_agents.json",
        AgentInput(
            goal="What does durable execution mean, and what is 12 * 7?",
            agents=[RESEARCHER],
        ),
        AgentStatus.COMPLETED,
        notes=(
            "two sub-agents called in one turn run in parallel as child workflows: the "
            "input's researcher and the worker's mathematician (marked in the LLM turn); "
            "their usage rolls up, and only their answers enter this history"
        ),
        tools=tools_with_a_sub_agent,
        agent_scripts=(
            ("researcher", "sub_agent_researcher.json"),
            ("mathematician", "sub_agent_mathematician.json"),
        ),
    ),
    Scenario(
        "mcp_tools",
        "mcp_tools.json",
        AgentInput(goal="Add 2 and 3 with the toolbox, then ask it to refuse."),
        AgentStatus.COMPLETED,
        notes=(
            "the tools of a stdio MCP server (tests/mcp_servers/toolbox.py): the first LLM "
            "turn records the run's tool catalog, later requests name it by key; a call, "
            "then a tool error the model reads"
        ),
        mcp_servers={
            "box": {
                "command": sys.executable,
                "args": [str(TOOLBOX), "stdio"],
                "env": {"TOOLBOX_JOURNAL": os.devnull},
            }
        },
    ),
]
