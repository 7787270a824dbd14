"""Replaying recorded histories in tests: one test per history file, and a failure that names
the file and the divergence.

    @pytest.mark.parametrize("path", histories("tests/histories"))
    async def test_history_replays(path: Path, agent_plugin: AgentLoopPlugin) -> None:
        await replay(path, agent_plugin)

The plugin is the one the workers use, so the histories are judged with their converter (and
codec keys: `AgentLoopPlugin(Settings(codec_keys=...))` opens encrypted ones), workflows and
sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from temporalio.client import WorkflowHistory

    from agentic_loop.temporal.plugin import AgentLoopPlugin

# What the message of a divergence adds: the way to fix it, and the way not to.
_FIX = (
    "gate the change with workflow.patched() so that recorded runs keep their path "
    "(docs/versioning.md); re-recording the history would hide the break, not fix it"
)


class ReplayFailed(AssertionError):
    """A recorded history that the code here does not replay. `failure` is the replayer's
    error: a `temporalio.workflow.NondeterminismError` for a divergence."""

    def __init__(self, name: str, failure: BaseException, reason: str) -> None:
        super().__init__(
            f"{name} does not replay against this code ({type(failure).__name__}): {reason}; "
            + _FIX
        )
        self.name = name
        self.failure = failure
        self.reason = reason


def histories(folder: str | Path, pattern: str = "*.json") -> list[Any]:
    """One pytest param per history file in `folder` (the event histories among the files
    `pattern` matches; an index or other JSON beside them is left out), its id the file's path
    within the folder. An empty folder is an error: a replay test that replays nothing would
    pass."""
    import pytest

    root = Path(folder)
    found = [path for path in sorted(root.glob(pattern)) if path.is_file() and _is_history(path)]
    if not found:
        raise ValueError(
            f"no workflow histories match {pattern} in {root}: record some (agentic-loop record, "
            "or `temporal workflow show -w ID --output json > FILE.json`), or fix the path"
        )
    return [pytest.param(path, id=path.relative_to(root).as_posix()) for path in found]


def _is_history(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return True  # replay() then says what is wrong with it, rather than dropping it
    return isinstance(data, dict) and isinstance(data.get("events"), list)


async def replay(
    history: str | Path | WorkflowHistory,
    plugin: AgentLoopPlugin | None = None,
    *,
    workflows: Sequence[type] = (),
) -> None:
    """Replay a history (a file, or a WorkflowHistory) as the workers would run it: with
    `plugin`'s converter, workflows and sandbox (`AgentLoopPlugin(Settings())` unless given,
    so the tester's environment never decides). `workflows` replaces ours under the names
    they are registered with: a changed AgentWorkflow, say. ReplayFailed if it does not
    replay; AssertionError if it is not a history at all."""
    from temporalio.client import WorkflowHistory

    from agentic_loop.config import Settings
    from agentic_loop.replay import failure_reason, load_history
    from agentic_loop.temporal.plugin import AgentLoopPlugin, replayer

    if isinstance(history, WorkflowHistory):
        loaded, name = history, f"the history of workflow {history.workflow_id}"
    else:
        path = Path(history)
        try:
            loaded = load_history(path)
        except OSError as e:
            raise AssertionError(f"cannot read {path}: {e.strerror or e}") from e
        except (ValueError, UnicodeDecodeError) as e:
            raise AssertionError(f"{path} cannot be replayed: {e}") from e
        name = str(path)
    plugin = plugin if plugin is not None else AgentLoopPlugin(Settings())
    if workflows:
        from temporalio.worker import Replayer

        judge = Replayer(workflows=list(workflows), plugins=[plugin])
    else:
        judge = replayer(plugin)
    result = await judge.replay_workflow(loaded, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        failure = result.replay_failure
        raise ReplayFailed(name, failure, failure_reason(failure)) from failure
