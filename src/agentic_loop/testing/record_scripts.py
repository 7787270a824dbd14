"""Scripts of a user's scenarios, read and recorded: what `agentic-loop record` runs.

Each script is a JSON script of the scripted fake (fixtures/scripts/), with the run's input
under `"input"`; the scenario is its file name. Recording itself is testing/record.py's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.converter import value_to_type

from agentic_loop.llm.scripted import ScriptedLLM
from agentic_loop.testing.record import (
    INDEX_NAME,
    RUN_FAILURES,
    RUN_TIMEOUT_SECONDS,
    RecordedRun,
    RecordError,
    code_version,
    history_file,
    load_index,
    recorded_runs,
    run_to_end,
    write_run,
)
from agentic_loop.tools import ToolRegistry
from agentic_loop.types import AgentInput
from agentic_loop.workflow.policies import goal_problem

# ---- users' scripts ---------------------------------------------------------------------------


@dataclass
class ScenarioScript:
    """A script file read for recording: the scenario is its name without `.json`."""

    name: str
    path: Path
    description: str
    input: AgentInput
    provider: ScriptedLLM


def load_scenario_script(path: Path) -> ScenarioScript:
    """Read a script and the run's input from it; RecordError (one line) if either is bad."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RecordError(f"cannot read script {path}: {e.strerror or e}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecordError(f"script {path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise RecordError(f"script {path} is not a JSON object with 'turns'")
    try:
        provider = ScriptedLLM.from_data(data, name=path.name)
    except ValueError as e:
        raise RecordError(f"script {path}: {e}") from e
    description = data.get("description")
    description = description.strip() if isinstance(description, str) else ""
    return ScenarioScript(
        path.stem, path, description, _script_input(path, data, description), provider
    )


def _script_input(path: Path, data: dict[str, Any], description: str) -> AgentInput:
    raw = data.get("input", {})
    if not isinstance(raw, dict):
        raise RecordError(f"script {path}: 'input' must be an object of AgentInput fields")
    known = {f.name for f in dataclasses.fields(AgentInput)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RecordError(
            f"script {path}: 'input' has no field {', '.join(map(repr, unknown))}; "
            f"AgentInput's fields are {', '.join(sorted(known))}"
        )
    raw = {"goal": description, **raw}
    try:
        # As the worker decodes a recorded input: nested settings become their dataclasses.
        value: AgentInput = value_to_type(AgentInput, raw)
    except (TypeError, ValueError) as e:
        raise RecordError(f"script {path}: 'input' is not a valid AgentInput: {e}") from e
    problem = goal_problem(value.goal)
    if problem is not None:
        hint = " (give the script a description, or input.goal)" if not value.goal else ""
        raise RecordError(f"script {path}: {problem}{hint}")
    return value


def _shown(path: Path) -> str:
    """A path as the index keeps it: relative to the current directory when under it."""
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    return str(resolved.relative_to(cwd)) if resolved.is_relative_to(cwd) else str(resolved)


def existing_histories(scripts: Sequence[ScenarioScript], out: Path) -> list[Path]:
    """The histories recording `scripts` into `out` would replace."""
    found = []
    for script in scripts:
        for name in (history_file(script.name), history_file(script.name, run=1)):
            if (out / name).exists():
                found.append(out / name)
    return found


@dataclass
class ScriptOutcome:
    """What became of one script: the files written, or why none were."""

    script: ScenarioScript
    written: list[tuple[Path, RecordedRun]]
    error: str | None = None


async def record_scripts(
    client: Client,
    scripts: Sequence[ScenarioScript],
    out: Path,
    *,
    tools: ToolRegistry | None = None,
    overwrite: bool = False,
    run_timeout_seconds: float = RUN_TIMEOUT_SECONDS,
    recorded_with: dict[str, Any] | None = None,
) -> AsyncIterator[ScriptOutcome]:
    """Record each script's run on `client`'s server into `out`, with `tools` (the
    client's plugin's unless given), yielding each outcome as it is known. A history that
    exists is never replaced unless `overwrite`: the caller checks `existing_histories`
    first, and a run that continued as new into files that exist is refused here."""
    names = [s.name for s in scripts]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RecordError(f"two scripts would both record {', '.join(twice)}.json: rename one")
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    index = load_index(out / INDEX_NAME)
    made = (
        recorded_with if recorded_with is not None else await asyncio.to_thread(code_version, tools)
    )
    for script in scripts:
        workflow_id = f"history-{script.name}"
        try:
            result, runs = await run_to_end(
                client,
                script.input,
                workflow_id=workflow_id,
                provider=script.provider,
                tools=tools,
                run_timeout_seconds=run_timeout_seconds,
            )
        except TimeoutError:
            yield ScriptOutcome(script, [], _timeout_reason(script, run_timeout_seconds))
            continue
        except RUN_FAILURES as e:
            yield ScriptOutcome(script, [], f"{type(e).__name__}: {e}")
            continue
        recorded = recorded_runs(script.name, workflow_id, result, runs)
        clashes = [r.file for r in recorded if (out / r.file).exists()]
        if clashes and not overwrite:
            reason = f"{', '.join(clashes)} exist(s) in {out}; nothing was written"
            yield ScriptOutcome(script, [], reason + " (--overwrite replaces them)")
            continue
        written = []
        for run in recorded:
            entry = {
                "file": run.file,
                "scenario": script.name,
                "script": _shown(script.path),
                "notes": script.description,
                **run.facts,
                "recorded_with": made,
            }
            written.append((write_run(out, index, run, entry), run))
        yield ScriptOutcome(script, written)


def _timeout_reason(script: ScenarioScript, timeout: float) -> str:
    reason = f"the run did not end within {timeout:g} s"
    if script.input.chat:
        reason += (
            "; a chat run waits for messages, which record does not send: give its input a "
            "short idle_timeout_seconds, e.g. 1"
        )
    return reason
