"""`agentic-loop replay`: judge histories against the workflow code installed here.

A history exported with `temporal workflow show -w ID --output json > file.json`, or fetched
from the server (`--from-server`), is replayed with the worker's own workflows and data
converter. A history that diverges would make a worker running this code fail that workflow's
tasks: deploy only when every history is ok.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from google.protobuf.json_format import ParseError
from temporalio.client import Client, WorkflowExecution, WorkflowHistory
from temporalio.converter import PayloadCodec
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Replayer, WorkflowReplayResult

from agentic_loop.temporal.codec import KEYS_VARIABLE
from agentic_loop.temporal.history_codec import decode_history
from agentic_loop.temporal.plugin import (
    WORKFLOWS,
    AgentLoopPlugin,
    plugin_of,
    registered_name,
    replayer,
)

OK = "ok"
DIVERGED = "diverged"
ERROR = "error"
# A JSON file met while searching a directory that is not a history of ours (an index, a
# history of another workflow type): reported, but it does not fail the command.
SKIPPED = "skipped"

# Core wraps the reason in a Rust debug dump; the first `message` holds the sentence.
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


@dataclass
class Outcome:
    path: str
    result: str
    reason: str = ""
    workflow_id: str | None = None
    run_id: str | None = None

    def line(self) -> str:
        reason = " ".join(self.reason.split())
        return f"{self.result}  {self.path}" + (f": {reason}" if reason else "")


class NotAHistory(ValueError):
    """Readable JSON that is not an event history of a workflow this program defines."""


def workflow_names() -> list[str]:
    names = (registered_name(cls) for cls in WORKFLOWS)
    return [name for name in names if name is not None]


def load_history(path: Path) -> WorkflowHistory:
    """Parse an exported history; OSError or ValueError if unreadable, NotAHistory if not one."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg}, line {e.lineno})") from e
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise NotAHistory("not a workflow history (no 'events' list)")
    try:
        events = WorkflowHistory.from_json(path.stem, data).events
    except (ValueError, ParseError) as e:
        raise ValueError(f"not a readable workflow history: {e}") from e
    if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
        raise NotAHistory("not a workflow history (it does not begin with the workflow start)")
    started = events[0].workflow_execution_started_event_attributes
    names = workflow_names()
    if started.workflow_type.name not in names:
        raise NotAHistory(
            f"a history of workflow type {started.workflow_type.name!r}; "
            f"this program defines {', '.join(names)}"
        )
    # Exports do not carry the workflow id beside the events; recent servers put it here.
    return WorkflowHistory(started.workflow_id or path.stem, events)


def _candidates(paths: list[str]) -> Iterator[tuple[Path, bool] | Outcome]:
    """Files to judge, each with whether it was named explicitly; an Outcome for a bad path."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                yield Outcome(raw, ERROR, "no *.json files in this directory")
            for file in found:
                yield file, False
        elif path.is_file():
            yield path, True
        else:
            yield Outcome(raw, ERROR, "no such file or directory")


def failure_reason(failure: Exception) -> str:
    """The sentence of a replay failure, e.g. "[TMPRL1100] Nondeterminism error: ..."."""
    text = str(failure)
    match = _CORE_MESSAGE.search(text)
    if match is None:
        return text
    return match.group(1).replace('\\"', '"').replace("\\\\", "\\")


async def _replay_one(replayer: Replayer, path: Path, explicit: bool) -> Outcome:
    shown = str(path)
    try:
        history = load_history(path)
    except NotAHistory as e:
        return Outcome(shown, ERROR if explicit else SKIPPED, str(e))
    except OSError as e:
        return Outcome(shown, ERROR, f"cannot read it: {e.strerror or e}")
    except (ValueError, UnicodeDecodeError) as e:
        return Outcome(shown, ERROR, str(e))
    ids = {"workflow_id": history.workflow_id, "run_id": history.run_id}
    try:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    except Exception as e:  # a history core refuses outright must not stop the other files
        return Outcome(shown, ERROR, f"the replayer could not run it: {e}", **ids)
    if result.replay_failure is not None:
        reason = failure_reason(result.replay_failure)
        return Outcome(shown, ERROR if _unreadable(reason) else DIVERGED, reason, **ids)
    return Outcome(shown, OK, **ids)


def _replayer(
    plugin: AgentLoopPlugin | None, workflows: Sequence[type], executor: ThreadPoolExecutor
) -> Replayer:
    # Core's own log lines would repeat, as Rust debug dumps, what each outcome says.
    runtime = Runtime(telemetry=TelemetryConfig(logging=None))
    if not workflows:
        return replayer(plugin, workflow_task_executor=executor, runtime=runtime)
    # A changed copy of AgentWorkflow registered under its name, say: the plugin then adds
    # ours only under names not taken, and gives the rest (converter, runner) as always.
    return Replayer(
        workflows=list(workflows),
        plugins=[plugin or AgentLoopPlugin()],
        workflow_task_executor=executor,
        runtime=runtime,
    )


@contextlib.contextmanager
def _quiet_sdk_logs() -> Iterator[None]:
    """Each divergence is reported once, as a line of ours, not also as an SDK traceback."""
    logger = logging.getLogger("temporalio.worker")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def replay_paths(
    paths: list[str], plugin: AgentLoopPlugin | None = None, workflows: Sequence[type] = ()
) -> list[Outcome]:
    """Replay each history file under `paths` (files, or directories searched for *.json),
    with `plugin`'s converter and workflows (an AgentLoopPlugin from the environment unless
    given; `workflows` replace ours under the names they are registered with)."""
    outcomes: list[Outcome] = []
    seen: set[Path] = set()
    with ThreadPoolExecutor() as executor, _quiet_sdk_logs():
        judge = _replayer(plugin, workflows, executor)
        for candidate in _candidates(paths):
            if isinstance(candidate, Outcome):
                outcomes.append(candidate)
                continue
            path, explicit = candidate
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            outcomes.append(await _replay_one(judge, path, explicit))
    return outcomes


async def replay_command(
    paths: list[str], *, as_json: bool = False, plugin: AgentLoopPlugin | None = None
) -> int:
    """One line per file on stdout, a summary on stderr; 0 only if every history replays."""
    outcomes = await replay_paths(paths, plugin)
    for outcome in outcomes:
        print(json.dumps(asdict(outcome), ensure_ascii=False) if as_json else outcome.line())
    counts = {kind: sum(o.result == kind for o in outcomes) for kind in (OK, DIVERGED, ERROR)}
    skipped = sum(o.result == SKIPPED for o in outcomes)
    summary = f"{counts[OK]} replayed, {counts[DIVERGED]} diverged, {counts[ERROR]} errors"
    print(summary + (f", {skipped} skipped" if skipped else ""), file=sys.stderr)
    if counts[OK] == 0 and not counts[DIVERGED] and not counts[ERROR]:
        print("agentic-loop: error: no workflow histories found", file=sys.stderr)
        return 1
    return 0 if counts[DIVERGED] == counts[ERROR] == 0 else 1


# ---- runs fetched from a server -------------------------------------------------------------

# Visibility pages: a page of executions is held while its runs are judged one by one.
LIST_PAGE_SIZE = 100


def default_query() -> str:
    """Every run of the workflow types this program defines."""
    return " OR ".join(f'WorkflowType="{name}"' for name in workflow_names())


@dataclass
class RunOutcome:
    """The verdict on one run listed by the server."""

    workflow_id: str
    run_id: str
    # The run's execution status when listed: running, completed, continued_as_new, ...
    status: str
    result: str
    reason: str = ""
    # The file its history was saved to (`save`), else None.
    saved: str | None = None

    def line(self) -> str:
        reason = " ".join(self.reason.split())
        subject = f"{self.workflow_id} {self.run_id}"
        return f"{self.result}  {subject}" + (f": {reason}" if reason else "")


def saved_name(workflow_id: str, run_id: str) -> str:
    """<workflow_id>_<run_id>.json, with what a file name cannot hold (a '/') as '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{workflow_id}_{run_id}") + ".json"


def _unreadable(reason: str) -> bool:
    """A replay failure that says a payload could not be opened (a key missing here): the
    history cannot be judged, which is not the same news as code that diverged from it."""
    return KEYS_VARIABLE in reason or "encryption scheme" in reason


class _StreamJudge:
    """One replay worker for a stream of histories, handed over one at a time through the
    SDK's `workflow_replay_iterator`: hundreds of runs start one worker, not hundreds. A
    history that breaks the worker is that run's error; the next run gets a new worker."""

    def __init__(self, judge: Replayer) -> None:
        self._replayer = judge
        self._stack: contextlib.AsyncExitStack | None = None
        self._queue: asyncio.Queue[WorkflowHistory | None] = asyncio.Queue()
        self._results: AsyncIterator[WorkflowReplayResult] | None = None

    @staticmethod
    async def _feed(
        queue: asyncio.Queue[WorkflowHistory | None],
    ) -> AsyncIterator[WorkflowHistory]:
        while (history := await queue.get()) is not None:
            yield history

    async def replay(self, history: WorkflowHistory) -> Exception | None:
        """The replay failure of `history`, or None if it replays."""
        if self._results is None:
            self._stack = contextlib.AsyncExitStack()
            self._queue = asyncio.Queue()
            self._results = await self._stack.enter_async_context(
                self._replayer.workflow_replay_iterator(self._feed(self._queue))
            )
        await self._queue.put(history)
        try:
            result = await anext(self._results)
        except Exception:
            await self.close()
            raise
        return result.replay_failure

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._results = self._stack, None, None
            await self._queue.put(None)
            await stack.aclose()


async def replay_from_server(
    client: Client,
    query: str | None = None,
    *,
    limit: int | None = None,
    save: Path | None = None,
    decode: bool = False,
    plugin: AgentLoopPlugin | None = None,
    workflows: Sequence[type] = (),
) -> AsyncIterator[RunOutcome]:
    """Judge every run the visibility `query` lists (every run of our workflow types unless
    given): running ones on their history so far, and each run of a continue-as-new chain
    on its own. Each outcome is yielded as soon as it is known, and only one history is held
    at a time: fetched, saved (into `save` as fetched, or with every payload decoded if
    `decode`), replayed, dropped. The replay uses `plugin`'s converter (the client's
    AgentLoopPlugin unless given), so encrypted runs open with the environment's keys;
    `workflows` replace ours under the names they are registered with. RPCError if the
    server refuses the query."""
    plugin = plugin if plugin is not None else plugin_of(client)
    names = sorted({n for n in map(registered_name, (*workflows, *WORKFLOWS)) if n})
    codec = client.data_converter.payload_codec if decode else None
    if save is not None:
        await asyncio.to_thread(save.mkdir, parents=True, exist_ok=True)
    listed = client.list_workflows(query or default_query(), limit=limit, page_size=LIST_PAGE_SIZE)
    with ThreadPoolExecutor() as executor, _quiet_sdk_logs():
        judge = _StreamJudge(_replayer(plugin, workflows, executor))
        try:
            async for execution in listed:
                yield await _judge_run(client, execution, judge, names, save, codec)
        finally:
            await judge.close()


async def _judge_run(
    client: Client,
    execution: WorkflowExecution,
    judge: _StreamJudge,
    names: list[str],
    save: Path | None,
    codec: PayloadCodec | None,
) -> RunOutcome:
    status = execution.status.name.lower() if execution.status is not None else "unknown"
    outcome = RunOutcome(execution.id, execution.run_id, status, OK)
    if execution.workflow_type not in names:
        outcome.result = SKIPPED
        outcome.reason = (
            f"a run of workflow type {execution.workflow_type!r}; "
            f"this program defines {', '.join(names)}"
        )
        return outcome
    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    try:
        history = await handle.fetch_history()
    except RPCError as e:
        outcome.result, outcome.reason = ERROR, f"cannot fetch its history: {e.message}"
        return outcome
    if save is not None:
        target = save / saved_name(execution.id, execution.run_id)
        try:
            kept = history if codec is None else await decode_history(history, codec)
            await asyncio.to_thread(target.write_text, kept.to_json() + "\n", "utf-8")
        except OSError as e:
            outcome.result, outcome.reason = ERROR, f"cannot write {target}: {e.strerror or e}"
            return outcome
        except Exception as e:  # the codec's, whatever it raises: the other runs go on
            outcome.result, outcome.reason = ERROR, f"cannot decode its payloads: {e}"
            return outcome
        outcome.saved = str(target)
    try:
        failure = await judge.replay(history)
    except Exception as e:  # a history core refuses outright must not stop the other runs
        outcome.result, outcome.reason = ERROR, f"the replayer could not run it: {e}"
        return outcome
    if failure is not None:
        outcome.reason = failure_reason(failure)
        outcome.result = ERROR if _unreadable(outcome.reason) else DIVERGED
    return outcome
