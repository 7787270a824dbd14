"""`agentic-loop replay PATH...`: one line per file, exit code 0 only if every history replays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from recorded import HISTORIES, HISTORY_FILES, INDEX

from agentic_loop.cli import main
from agentic_loop.replay import saved_name

SEED = HISTORIES / "seed.json"


def _tampered_copy(directory: Path) -> Path:
    """A copy of the seed history whose first activity was recorded under another name."""
    data = json.loads(SEED.read_text(encoding="utf-8"))
    for event in data["events"]:
        attributes = event.get("activityTaskScheduledEventAttributes")
        if attributes is not None:
            attributes["activityType"]["name"] = "call_llm_v0"
            break
    copy = directory / "tampered.json"
    copy.write_text(json.dumps(data), encoding="utf-8")
    return copy


def test_every_recorded_history_replays_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """The fixtures directory replays with exit code 0, one ok line per history, the index
    reported as skipped."""
    assert main(["replay", str(HISTORIES)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == sorted(
        [f"ok  {path}" for path in HISTORY_FILES]
        + [f"skipped  {INDEX}: not a workflow history (no 'events' list)"]
    )


def test_a_tampered_copy_is_reported_as_diverged_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A history that no longer matches the code is `diverged`, names the mismatch, exits 1."""
    shutil.copy(SEED, tmp_path / "seed.json")
    tampered = _tampered_copy(tmp_path)
    assert main(["replay", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"ok  {tmp_path / 'seed.json'}"
    assert out[1].startswith(f"diverged  {tampered}: ")
    assert "Nondeterminism" in out[1]
    assert "call_llm_v0" in out[1]


def test_json_output_is_one_object_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --json each file gets one JSON object on its own line, with ids and reason."""
    tampered = _tampered_copy(tmp_path)
    assert main(["replay", "--json", str(SEED), str(tampered)]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["path"], r["result"]) for r in records] == [
        (str(SEED), "ok"),
        (str(tampered), "diverged"),
    ]
    assert records[0]["workflow_id"] == "history-seed"
    assert records[0]["run_id"]
    assert "call_llm_v0" in records[1]["reason"]


def test_a_json_file_that_is_not_a_history_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A named JSON file without events is an `error` line and a non-zero exit, not a crash."""
    other = tmp_path / "settings.json"
    other.write_text('{"hello": "world"}', encoding="utf-8")
    assert main(["replay", str(SEED), str(other)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"ok  {SEED}", f"error  {other}: not a workflow history (no 'events' list)"]


def test_unreadable_json_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A truncated export is reported as invalid JSON, with exit code 1."""
    broken = tmp_path / "broken.json"
    broken.write_text(SEED.read_text(encoding="utf-8")[:200], encoding="utf-8")
    assert main(["replay", str(broken)]) == 1
    assert capsys.readouterr().out.startswith(f"error  {broken}: not valid JSON")


def test_a_missing_path_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path that does not exist is named in an error line and the exit code is non-zero."""
    missing = tmp_path / "no-such-history.json"
    assert main(["replay", str(missing)]) == 1
    assert capsys.readouterr().out == f"error  {missing}: no such file or directory\n"


def test_a_directory_without_histories_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pointing at a directory that holds no history is a failure, not a silent success."""
    shutil.copy(INDEX, tmp_path / "index.json")
    assert main(["replay", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("skipped  ")
    assert "no workflow histories found" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--save", "x"], "--save go with --from-server"),
        (["--query", "q", "--limit", "3", "x"], "--query and --limit go with --from-server"),
        (["--decode", "x.json"], "--decode goes with --from-server"),
        (["--from-server", "--decode"], "--decode applies to the files --save writes"),
        (["--from-server", "x.json"], "either the files named"),
        (["--from-server", "--limit", "0"], "--limit must be at least 1"),
        ([], "name the histories to replay"),
    ],
)
def test_options_that_do_not_go_together_are_one_line_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Server options without --from-server, files with it, or no histories at all are
    refused in one line with exit code 2, before any server is asked."""
    assert main(["replay", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert captured.err.count("\n") == 1


def test_a_saved_history_is_named_by_workflow_and_run_in_one_flat_file() -> None:
    """A workflow id holding a slash or a space still makes one file name in the directory."""
    assert saved_name("agent-1", "0193-ab") == "agent-1_0193-ab.json"
    assert saved_name("team/agent 1", "r1") == "team_agent_1_r1.json"
