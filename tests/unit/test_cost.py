"""Cost in dollars: each turn priced on the worker and recorded with it, added up by the
workflow (across continue-as-new too), shown in status and result, and `max_cost_usd` ending a
run with a status of its own."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from agentic_loop.config import ConfigError
from agentic_loop.llm.pricing import Price, PriceTable
from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.types import AgentInput, AgentResult, AgentStatus, Usage, UserMessage
from agentic_loop.worker import build_worker
from agentic_loop.workflow import AgentWorkflow
from support import until_status

# $1 per million input tokens and $2 per million output: a turn of 100k in and 50k out is $0.20.
PRICES = PriceTable({"script": Price(1.0, 2.0)})
TURN_USAGE = {"prompt_tokens": 100_000, "completion_tokens": 50_000, "total_tokens": 150_000}
TURN_COST = 0.2


def test_a_turn_is_priced_per_million_tokens_and_a_snapshot_as_its_family() -> None:
    """gpt-4o-mini at $0.15/$0.60 per million: 1M in + 1M out is $0.75, and a dated snapshot
    of it costs the same."""
    table = PriceTable()
    usage = Usage(1_000_000, 1_000_000, 2_000_000)
    assert table.cost("gpt-4o-mini", usage) == pytest.approx(0.75)
    assert table.cost("gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.75)
    assert table.cost("script:seed", usage) == 0.0


def test_an_unpriced_model_costs_nothing_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A model missing from the table costs $0, with one warning naming it and the fix."""
    table = PriceTable({})
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert table.cost("mystery-1", Usage(10, 10, 20)) == 0.0
    warnings = [r.getMessage() for r in caplog.records if "mystery-1" in r.getMessage()]
    assert len(warnings) == 1
    assert "AGENTIC_LOOP_PRICES" in warnings[0]


def test_a_price_file_overrides_the_defaults(tmp_path: Path) -> None:
    """AGENTIC_LOOP_PRICES's file adds and replaces prices; a malformed one is a ConfigError."""
    good = tmp_path / "prices.json"
    good.write_text(
        json.dumps({"gpt-4o-mini": {"input": 1, "output": 1}, "mine": {"input": 3, "output": 4}})
    )
    table = PriceTable.from_file(good)
    assert table.price_of("gpt-4o-mini") == Price(1.0, 1.0)
    assert table.price_of("mine") == Price(3.0, 4.0)
    assert table.price_of("gpt-4o") == Price(2.5, 10.0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"m": {"input": 1}}))
    with pytest.raises(ConfigError, match="AGENTIC_LOOP_PRICES"):
        PriceTable.from_file(bad)


def _script(turns: int) -> ScriptedLLM:
    """`turns` tool-calling turns then an answer, each turn billed TURN_USAGE."""
    played: list[dict[str, Any]] = [
        {
            "usage": TURN_USAGE,
            "tool_calls": [{"name": "calculator", "arguments": {"expression": f"{i} + 1"}}],
        }
        for i in range(turns)
    ]
    played.append({"usage": TURN_USAGE, "content": "done"})
    return ScriptedLLM.from_data({"turns": played})


async def _run(env: WorkflowEnvironment, llm: ScriptedLLM, agent_input: AgentInput) -> Any:
    task_queue = f"tq-{uuid.uuid4()}"
    worker = build_worker(env.client, task_queue=task_queue, provider=llm, prices=PRICES)
    async with worker:
        handle = await env.client.start_workflow(
            AgentWorkflow.run, agent_input, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )
        result: AgentResult = await handle.result()
    return result, handle


async def test_the_result_says_what_the_run_cost(time_env: WorkflowEnvironment) -> None:
    """Three priced turns cost three times one, in the result."""
    result, _ = await _run(time_env, _script(2), AgentInput(goal="count"))
    assert result.status == AgentStatus.COMPLETED
    assert result.cost_usd == pytest.approx(3 * TURN_COST)


async def test_max_cost_usd_ends_the_run_with_its_own_status(time_env: WorkflowEnvironment) -> None:
    """With a $0.50 budget the third $0.20 turn crosses it: the run ends max_cost after that
    turn, keeping what it did, though turns and tools were left."""
    result, _ = await _run(time_env, _script(5), AgentInput(goal="count", max_cost_usd=0.5))
    assert result.status == AgentStatus.MAX_COST
    assert result.turns == 3
    assert result.cost_usd == pytest.approx(3 * TURN_COST)


@pytest.mark.dev_server  # continues as new while the test talks to it (servers.py says why)
async def test_cost_is_carried_across_continue_as_new_and_shown_in_status(
    time_env: WorkflowEnvironment,
) -> None:
    """A conversation that continues as new after every request keeps adding up its cost,
    which the status query shows with what is left of the budget."""
    llm = ScriptedLLM.from_data(
        {
            "turns": [
                {"usage": TURN_USAGE, "expect": {"role": "user"}, "content": f"a{i}"}
                for i in range(3)
            ]
        }
    )
    agent_input = AgentInput(
        goal="q0", chat=True, continue_as_new_after_events=4, max_cost_usd=10.0
    )
    task_queue = f"tq-{uuid.uuid4()}"
    async with build_worker(time_env.client, task_queue=task_queue, provider=llm, prices=PRICES):
        handle = await time_env.client.start_workflow(
            AgentWorkflow.run, agent_input, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )
        first_run = (await handle.describe()).run_id
        for i in range(1, 3):
            await until_status(
                handle, lambda p, i=i: p.phase == "waiting for the user" and p.turns == i
            )
            await handle.execute_update(AgentWorkflow.send_message, UserMessage(f"q{i}"))
        progress = await until_status(
            handle, lambda p: p.phase == "waiting for the user" and p.turns == 3
        )
        assert (await handle.describe()).run_id != first_run
        assert progress.cost_usd == pytest.approx(3 * TURN_COST)
        assert progress.cost_left_usd == pytest.approx(10.0 - 3 * TURN_COST)
        await handle.signal(AgentWorkflow.end)
        result = await handle.result()
    assert result.cost_usd == pytest.approx(3 * TURN_COST)
