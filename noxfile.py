"""One session per job. `nox` runs the default ones: lint, typing, unit, replay, integration,
example."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typing", "unit", "replay", "integration", "example"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
# uv makes and fills an environment in seconds where pip takes half a minute or more (.ci/run
# installs it); where it is not installed (`pip install nox && nox`), virtualenv and pip.
nox.options.default_venv_backend = "uv|virtualenv"
# Let Python write .pyc files as it imports. Where PYTHONDONTWRITEBYTECODE is set (as on our CI
# machines) nothing would ever be compiled (uv, unlike pip, compiles nothing it installs), and
# every worker and CLI subprocess, and the workflow sandbox for every new run, would compile
# agentic-loop and its dependencies from source: the load test went from about 80 s to over
# 600 s so. Compiling each module when it is first imported costs a fraction of compiling all
# that is installed (UV_COMPILE_BYTECODE: some 15 s of CPU an environment).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

PYPROJECT = nox.project.load_toml("pyproject.toml")
EXAMPLE = "examples/notes-agent"
# typing, unit, replay and integration run in one environment, made and filled once by the
# `deps` session they require: each of them used to install the same packages into its own,
# some 25 s each on a loaded two-core machine (with UV_COMPILE_BYTECODE), where `deps` takes a
# few seconds. `nox -s unit` runs `deps` first too.
DEPS = "deps"
ENVS = Path(__file__).resolve().parent / ".nox"  # nox's own place for them (its --envdir)


def install(session: nox.Session, *groups: str) -> None:
    """The package as a user gets it (not editable), plus the named dependency groups."""
    deps: list[str] = []
    for group in groups:
        deps += nox.project.dependency_groups(PYPROJECT, group)
    session.install(".", *deps)


def in_deps(session: nox.Session, *args: str) -> None:
    """Run a command of the environment `deps` made, as if it were this session's own."""
    scripts = ENVS / DEPS / ("Scripts" if os.name == "nt" else "bin")
    env = {
        "VIRTUAL_ENV": str(scripts.parent),
        "PATH": os.pathsep.join([str(scripts), os.environ.get("PATH", "")]),
    }
    session.run(str(scripts / args[0]), *args[1:], env=env, external=True)


@nox.session(default=False)
def deps(session: nox.Session) -> None:
    """The environment of typing, unit, replay and integration (not a default session: they
    require it)."""
    install(session, "tests")
    # The typing session checks modules in parallel (`-n`): 2.4 has it (what it was tried with)
    session.install("mypy>=2.4")


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    paths = ["src", "tests", "scripts", "benchmarks", "examples", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(venv_backend="none", requires=[DEPS])
def typing(session: nox.Session) -> None:
    # Two processes: on a clean clone (no mypy cache) 25 s instead of 37 on two cores, for
    # some 6 CPU-seconds more.
    in_deps(session, "mypy", "-n", "2", "src")


@nox.session(venv_backend="none", requires=[DEPS])
def unit(session: nox.Session) -> None:
    # On three workers (pytest-xdist), each with its own time-skipping server: serially the
    # suite needs some 80 CPU-seconds but takes 118 s, waiting on servers it starts (MCP
    # servers, the dev server of the dev_server mark) and on workflows. On a two-core machine,
    # on a clean clone: 79 s on two workers, 66 s on three, 66 s on four for 12 CPU-seconds
    # more. `-- -n 0` runs them in one.
    in_deps(session, "pytest", "tests/unit", "-n", "3", *session.posargs)


@nox.session(venv_backend="none", requires=[DEPS])
def replay(session: nox.Session) -> None:
    in_deps(session, "pytest", "tests/replay", *session.posargs)


@nox.session(venv_backend="none", requires=[DEPS])
def integration(session: nox.Session) -> None:
    # On three workers (pytest-xdist), a module to a worker so that module-scoped servers start
    # once. Serially the suite takes some 440 s for 370 CPU-seconds, mostly in the CLI and
    # worker subprocesses it starts and waits on; on a two-core machine it took 290-310 s on
    # two workers and 235-275 s on three (four runs each way, the Ctrl-C tests that time a
    # subprocess's start-up included). Each worker starts its own dev server on a free port;
    # task queues and ids are random. `-- -n 0` runs it in one.
    in_deps(
        session, "pytest", "tests/integration", "-n", "3", "--dist", "loadscope", *session.posargs
    )


@nox.session
def example(session: nox.Session) -> None:
    """examples/notes-agent, a user's own project on agentic-loop: installed beside the
    library, as a user installs it, and tested with its own tests and configuration."""
    example = nox.project.load_toml(f"{EXAMPLE}/pyproject.toml")
    # Both at once, as a user installs them: the example's dependency on agentic-loop is then
    # met by this checkout, never by a download.
    session.install(".", f"./{EXAMPLE}", *nox.project.dependency_groups(example, "tests"))
    session.run("pytest", f"{EXAMPLE}/tests", *session.posargs)


@nox.session
def record(session: nox.Session) -> None:
    """Record fixtures/histories on the embedded dev server (not a default session).
    `-- --suffix v2` keeps the old histories; `-- --overwrite` replaces them."""
    install(session)
    session.run("python", "scripts/record_histories.py", *session.posargs)


@nox.session
def live(session: nox.Session) -> None:
    """The seed's example against the real OpenAI and Anthropic APIs (not a default session:
    it costs tokens). Each test runs when its key is set (OPENAI_API_KEY, ANTHROPIC_API_KEY)."""
    keys = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
    if not any(os.environ.get(k, "").strip() for k in keys):
        session.skip("neither OPENAI_API_KEY nor ANTHROPIC_API_KEY is set: export one")
    install(session, "tests")
    session.run("pytest", "tests/live", *session.posargs, env={"AGENTIC_LOOP_LIVE": "1"})


@nox.session
def soak(session: nox.Session) -> None:
    """Opt-in, a few minutes: conversations under repeated worker kills, then a report."""
    install(session, "tests")
    session.run("python", "tests/soak/soak.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """agentic-loop against the naive design (not a default session: 13 to 17 minutes on 2 cores);
    docs/performance.md explains the figures. `-- --quick` for a short run while developing,
    `-- --tune` for the worker settings behind the recommended defaults."""
    install(session)
    session.install("matplotlib")
    # The workflow sandbox executes the naive workflow's module for every new run, as it does
    # agentic-loop's; pip byte-compiled the installed package, so compile the benchmark's too
    # (PYTHONDONTWRITEBYTECODE would otherwise leave it compiling from source each time).
    session.run("python", "-m", "compileall", "-q", "benchmarks")
    session.run("python", "-m", "benchmarks", *session.posargs)
