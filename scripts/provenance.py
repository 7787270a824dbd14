"""Where a recorded history came from: the commit, whether the imported package is exactly
that commit's, a digest of its sources, and the SDK and CLI versions."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from scenarios import PACKAGE_PATH, ROOT, SOURCE_COMMIT_ENV

import agentic_loop
from agentic_loop.testing.record import temporal_cli_version


@dataclass
class Provenance:
    """What recorded a history: enough to rebuild that code from the repository."""

    agentic_loop: str
    git_commit: str
    # Whether the package's .py files, as imported, are exactly the commit's: if not, the
    # commit alone does not rebuild the code that recorded the history. None: no git here.
    source_matches_commit: bool | None
    # Of the package's .py files as imported: names the code exactly even on a dirty tree.
    source_sha256: str
    temporalio: str
    temporal_cli: str
    recorded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat("T", "seconds"))


def run_quietly(*command: str) -> str | None:
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def package_sources() -> dict[str, bytes]:
    package = Path(agentic_loop.__file__).parent
    return {p.relative_to(package).as_posix(): p.read_bytes() for p in package.rglob("*.py")}


def source_digest(sources: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name] + b"\0")
    return digest.hexdigest()


def matches_commit(sources: dict[str, bytes], commit: str) -> bool | None:
    prefix = f"{PACKAGE_PATH}/"
    listed = run_quietly("git", "ls-tree", "-r", "--name-only", commit, "--", prefix)
    if listed is None:
        return None
    committed = {p.removeprefix(prefix) for p in listed.splitlines() if p.endswith(".py")}
    if committed != set(sources):
        return False
    for name in committed:
        shown = subprocess.run(
            ["git", "show", f"{commit}:{prefix}{name}"], cwd=ROOT, capture_output=True, check=False
        )
        if shown.returncode != 0 or shown.stdout != sources[name]:
            return False
    return True


def provenance() -> Provenance:
    sources = package_sources()
    commit = os.environ.get(SOURCE_COMMIT_ENV) or run_quietly("git", "rev-parse", "HEAD")
    return Provenance(
        agentic_loop=metadata.version("agentic-loop"),
        git_commit=commit or "unknown",
        source_matches_commit=matches_commit(sources, commit) if commit else None,
        source_sha256=source_digest(sources),
        temporalio=metadata.version("temporalio"),
        temporal_cli=temporal_cli_version(),
    )
