"""`agentic-loop record`: a user's scripts, run with the user's own tools on the embedded dev
server, become histories and an index that `agentic-loop replay DIR` replays."""

from __future__ import annotations

import asyncio
import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cli_support import CLI, cli_env

from support import install_distribution

TOOLS_MODULE = textwrap.dedent(
    '''
    from agentic_loop import tool

    @tool
    def forecast(city: str) -> str:
        """The weather forecast for a city."""
        return f"sunny in {city}"
    '''
)

# A user's scenario: the model asks the user's tool, reads its answer, then answers.
WEATHER_SCRIPT = {
    "description": "The model asks the forecast tool and answers from it.",
    "input": {"goal": "What is the weather in Seoul?", "max_turns": 4},
    "turns": [
        {
            "expect": {"role": "user", "contains": "Seoul"},
            "tool_calls": [{"name": "forecast", "arguments": {"city": "Seoul"}}],
        },
        {"expect": {"role": "tool", "contains": "sunny in Seoul"}, "content": "It is sunny."},
    ],
}
# No input: the goal is the description.
PLAIN_SCRIPT = {
    "description": "Say hello",
    "turns": [{"expect": {"role": "user", "contains": "Say hello"}, "content": "Hello!"}],
}


async def _agentic_loop(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, from `cwd` (their project)."""
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        cwd=cwd,
        env=cli_env(**env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: a git repository holding a tool package (installed as
    weather-tools 1.2.3), and two scripts."""
    package = tmp_path / "weathertools"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "tools.py").write_text(TOOLS_MODULE, encoding="utf-8")
    install_distribution(tmp_path, "weather-tools", "1.2.3", {})
    # What importlib.metadata reads to know which distribution a module belongs to.
    (tmp_path / "weather_tools-1.2.3.dist-info" / "top_level.txt").write_text(
        "weathertools\n", encoding="utf-8"
    )
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "weather.json").write_text(json.dumps(WEATHER_SCRIPT), encoding="utf-8")
    (scripts / "hello.json").write_text(json.dumps(PLAIN_SCRIPT), encoding="utf-8")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "tools")
    return tmp_path


async def _record(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await _agentic_loop(
        "record",
        "scripts/weather.json",
        "scripts/hello.json",
        "--out",
        "histories",
        "--tools",
        "weathertools.tools",
        *args,
        cwd=project,
        PYTHONPATH=str(project),
    )


def _index(project: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((project / "histories" / "index.json").read_text(encoding="utf-8"))
    return {entry["file"]: entry for entry in data["histories"]}


async def test_record_writes_each_history_and_an_index_of_what_ran(project: Path) -> None:
    """Each script becomes <scenario>.json as the server exports it, and index.json lists its
    scenario, script, input, ending and the code versions (agentic-loop's, the tools'
    package's, the project's git commit)."""
    done = await _record(project)
    assert done.returncode == 0, done.stderr
    history = json.loads((project / "histories" / "weather.json").read_text(encoding="utf-8"))
    events = len(history["events"])
    [weather_line, hello_line] = done.stdout.splitlines()
    assert weather_line == f"wrote  histories/weather.json ({events} events, completed)"
    assert hello_line.startswith("wrote  histories/hello.json (")
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]
    assert started["workflowType"]["name"] == "AgentWorkflow"
    index = _index(project)
    assert set(index) == {"weather.json", "hello.json"}
    weather = index["weather.json"]
    assert weather["scenario"] == "weather"
    assert weather["script"] == "scripts/weather.json"
    assert weather["input"]["goal"] == "What is the weather in Seoul?"
    assert weather["input"]["max_turns"] == 4
    assert weather["expect"]["status"] == "completed"
    assert weather["expect"]["answer"] == "It is sunny."
    assert weather["expect"]["tool_calls"] == 1
    assert weather["events"] == events
    made = weather["recorded_with"]
    assert made["git_commit"] == _git(project, "rev-parse", "HEAD")
    assert made["git_dirty"] is False
    # Besides any other installed package whose entry point adds tools to every worker.
    assert made["packages"]["weather-tools"] == "1.2.3"
    assert made["agentic_loop"]
    assert index["hello.json"]["input"]["goal"] == "Say hello"


async def test_replay_of_the_recorded_directory_is_ok(project: Path) -> None:
    """`agentic-loop replay DIR` replays every history record wrote and skips the index."""
    assert (await _record(project)).returncode == 0
    replayed = await _agentic_loop("replay", "histories", cwd=project)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert sorted(replayed.stdout.splitlines()) == [
        "ok  histories/hello.json",
        "ok  histories/weather.json",
        "skipped  histories/index.json: not a workflow history (no 'events' list)",
    ]


async def test_an_existing_history_is_kept_unless_overwrite(project: Path) -> None:
    """A second recording into the same directory is a one-line error with exit code 2 that
    leaves the history as it was; with --overwrite it is recorded again (and --json prints
    one object per file written)."""
    assert (await _record(project)).returncode == 0
    target = project / "histories" / "weather.json"
    before = target.read_text(encoding="utf-8")
    again = await _record(project)
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1
    assert "histories/weather.json exists" in again.stderr
    assert "--overwrite" in again.stderr
    assert target.read_text(encoding="utf-8") == before
    replaced = await _record(project, "--overwrite", "--json")
    assert replaced.returncode == 0, replaced.stderr
    rows = [json.loads(line) for line in replaced.stdout.splitlines()]
    assert [(r["file"], r["expect"]["status"]) for r in rows] == [
        ("histories/weather.json", "completed"),
        ("histories/hello.json", "completed"),
    ]
    assert target.read_text(encoding="utf-8") != before  # a new run: new run id, new times
    assert set(_index(project)) == {"weather.json", "hello.json"}


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ({"turns": [{"content": "hi"}], "input": {"goal": "x", "max_turn": 3}}, "'max_turn'"),
        ({"turns": [{"content": "hi"}]}, "give the script a description, or input.goal"),
        ({"description": "no turns"}, "needs a non-empty list 'turns'"),
    ],
)
async def test_a_bad_script_is_a_one_line_error(
    tmp_path: Path, script: dict[str, Any], message: str
) -> None:
    """A script with an unknown input field, no goal, or no turns is refused in one line
    naming the problem, exit code 2, before any server starts and with nothing written."""
    (tmp_path / "bad.json").write_text(json.dumps(script), encoding="utf-8")
    done = await _agentic_loop("record", "bad.json", "--out", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
