"""One session per job. `nox` runs the default ones: lint, typing, unit, replay, integration."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typing", "unit", "replay", "integration"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def install(session: nox.Session, *groups: str) -> None:
    """The package as a user gets it (not editable), plus the named dependency groups."""
    deps: list[str] = []
    for group in groups:
        deps += nox.project.dependency_groups(PYPROJECT, group)
    session.install(".", *deps)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py")


@nox.session
def typing(session: nox.Session) -> None:
    install(session, "tests")
    session.install("mypy")
    session.run("mypy", "src")


@nox.session
def unit(session: nox.Session) -> None:
    install(session, "tests")
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session
def replay(session: nox.Session) -> None:
    install(session, "tests")
    session.run("pytest", "tests/replay", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    install(session, "tests")
    session.run("pytest", "tests/integration", *session.posargs)
