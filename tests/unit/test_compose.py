"""docker-compose.yml, Dockerfile and .env.example, read as data (no Docker engine needed)."""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentic_loop.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def resolved(value: str) -> str:
    """A compose value with each ${VAR:-default} replaced by its default, as with no .env."""
    return _VARIABLE.sub(lambda m: m.group(2) or "", value)


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: resolved(str(v)) for k, v in env.items()}


def healthy_dependencies(service: str) -> dict[str, str]:
    depends = SERVICES[service].get("depends_on", {})
    assert isinstance(depends, dict), f"{service}: depends_on must name conditions"
    return {name: spec["condition"] for name, spec in depends.items()}


def test_the_stack_has_every_service() -> None:
    """Temporal, PostgreSQL, the Web UI, admin tools (schema, namespace, interactive) and the
    worker are all there."""
    assert {
        "postgresql",
        "temporal",
        "temporal-ui",
        "temporal-schema",
        "temporal-namespace",
        "temporal-admin-tools",
        "worker",
    } <= set(SERVICES)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_image_is_pinned(service: str) -> None:
    """Every image names a tag that is not `latest` (the worker's is built here)."""
    image = resolved(SERVICES[service]["image"])
    name, _, tag = image.rpartition(":")
    assert name, f"{service}: {image} has no tag"
    assert "/" not in tag, f"{service}: {image} has no tag"
    assert tag != "latest", f"{service}: {image}"


def test_temporal_server_and_admin_tools_share_a_version() -> None:
    """The admin tools set up the schema of the server version that runs on it."""
    server = SERVICES["temporal"]["image"]
    assert server.startswith("temporalio/server:")
    version = server.rpartition(":")[2]
    for name in ("temporal-schema", "temporal-namespace", "temporal-admin-tools"):
        assert SERVICES[name]["image"] == f"temporalio/admin-tools:{version}"


def test_ports_are_the_seed_s_and_only_on_loopback() -> None:
    """The UI is on localhost:8088 (as in the seed) and the frontend on 7233, both bound to
    127.0.0.1 only; PostgreSQL is not published."""
    assert SERVICES["temporal-ui"]["ports"] == ["127.0.0.1:8088:8080"]
    assert SERVICES["temporal"]["ports"] == ["127.0.0.1:7233:7233"]
    assert "ports" not in SERVICES["postgresql"]


def test_the_worker_can_be_scaled() -> None:
    """No container_name and no host port on the worker, so `--scale worker=3` works."""
    worker = SERVICES["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["build"] == "."


@pytest.mark.parametrize(
    "service", ["postgresql", "temporal", "temporal-ui", "temporal-admin-tools", "worker"]
)
def test_long_running_services_have_health_checks(service: str) -> None:
    """Each long-running service declares a health check command."""
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert len(test) > 1


def test_start_order_waits_for_health_and_setup() -> None:
    """Schema setup waits for a healthy PostgreSQL, the server for the schema, the namespace
    job and the UI for a healthy server, and the worker for both server and namespace."""
    assert healthy_dependencies("temporal-schema") == {"postgresql": "service_healthy"}
    assert healthy_dependencies("temporal") == {"temporal-schema": "service_completed_successfully"}
    assert healthy_dependencies("temporal-namespace") == {"temporal": "service_healthy"}
    assert healthy_dependencies("temporal-ui") == {"temporal": "service_healthy"}
    assert healthy_dependencies("worker") == {
        "temporal": "service_healthy",
        "temporal-namespace": "service_completed_successfully",
    }


def test_the_worker_is_wired_to_the_temporal_service() -> None:
    """The worker's TEMPORAL_ADDRESS is the temporal service's frontend, and the namespace it
    polls is the one the namespace job creates."""
    env = environment("worker")
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["TEMPORAL_NAMESPACE"] == environment("temporal-namespace")["NAMESPACE"]
    assert environment("temporal-ui")["TEMPORAL_ADDRESS"] == "temporal:7233"
    # The health check reads the metrics endpoint the worker is told to serve.
    port = env["AGENTIC_LOOP_METRICS_ADDRESS"].rpartition(":")[2]
    assert f":{port}/metrics" in " ".join(SERVICES["worker"]["healthcheck"]["test"])


def test_the_server_and_setup_agree_on_the_database() -> None:
    """The server and the schema job use the same PostgreSQL user, password and host."""
    server, schema, db = (
        environment("temporal"),
        environment("temporal-schema"),
        environment("postgresql"),
    )
    assert server["POSTGRES_SEEDS"] == schema["POSTGRES_SEEDS"] == "postgresql"
    assert server["POSTGRES_USER"] == schema["POSTGRES_USER"] == db["POSTGRES_USER"]
    assert server["POSTGRES_PWD"] == schema["SQL_PASSWORD"] == db["POSTGRES_PASSWORD"]
    source, target = SERVICES["temporal"]["volumes"][0].split(":")[:2]
    assert (ROOT / source).is_file()
    assert target == "/etc/temporal/" + server["DYNAMIC_CONFIG_FILE_PATH"]


def test_every_variable_compose_reads_is_documented_in_env_example() -> None:
    """Each ${VAR} of docker-compose.yml has a line in .env.example, and none holds a value
    that looks like a real secret."""
    compose_text = (ROOT / "docker-compose.yml").read_text("utf-8")
    used = set(_VARIABLE.findall(compose_text))
    example = (ROOT / ".env.example").read_text("utf-8")
    documented = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    assert {name for name, _ in used} <= set(documented)
    for name in ("OPENAI_API_KEY", "AGENTIC_LOOP_CODEC_KEYS", "AGENTIC_LOOP_CODEC_TOKEN"):
        assert documented[name] == ""


def _instruction(dockerfile: str, name: str) -> list[str]:
    lines = [line for line in dockerfile.splitlines() if line.startswith(f"{name} ")]
    if not lines:
        return []
    value = lines[-1][len(name) + 1 :].strip()
    parsed: list[str] = json.loads(value) if value.startswith("[") else shlex.split(value)
    return parsed


def _check_command(argv: list[str]) -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert argv, "no command"
    assert argv[0] in scripts, f"{argv} does not start with a console script"
    module, _, function = scripts[argv[0]].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    build_parser().parse_args(argv[1:])  # exits (fails the test) on an unknown subcommand


def test_the_image_runs_a_real_console_script_and_subcommand() -> None:
    """ENTRYPOINT + CMD is `agentic-loop worker`: a [project.scripts] entry of pyproject.toml
    and a subcommand its parser accepts; the compose worker's command is one too."""
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    entrypoint = _instruction(dockerfile, "ENTRYPOINT")
    command = _instruction(dockerfile, "CMD")
    _check_command(entrypoint + command)
    assert build_parser().parse_args(command).command == "worker"
    _check_command(entrypoint + SERVICES["worker"]["command"])
    assert re.search(r'^RUN pip install "\.(\[[\w,]+\])?"', dockerfile, re.MULTILINE)


def test_the_image_build_leaves_local_state_out() -> None:
    """.dockerignore admits only what `pip install .` needs: no .venv, no .env."""
    ignore = (ROOT / ".dockerignore").read_text("utf-8").splitlines()
    admitted = {line for line in ignore if line.startswith("!")}
    assert "*" in ignore
    assert admitted == {"!pyproject.toml", "!README.md", "!src/"}


def test_the_optional_codec_server_runs_the_codec_server_command() -> None:
    """The `codec` profile's service runs `agentic-loop codec-server` with options that
    the command's parser accepts, and publishes its port on loopback only."""
    service = SERVICES["codec-server"]
    assert service["profiles"] == ["codec"]
    args = build_parser().parse_args(service["command"])
    assert args.command == "codec-server"
    assert service["ports"] == [f"127.0.0.1:{args.port}:{args.port}"]


def _run_job(service: str, stubs: dict[str, str], tmp_path: Path) -> list[str]:
    """Run a one-shot job's shell script on this machine, with its compose environment and
    stub binaries (shell bodies) that log their arguments; returns the log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls.log"
    for name, body in stubs.items():
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\n{body}\n', "utf-8")
        stub.chmod(0o755)
    entrypoint = SERVICES[service]["entrypoint"]
    # Compose turns $$ into $ before the container's shell sees the script.
    script = SERVICES[service]["command"][0].replace("$$", "$")
    env = {**environment(service), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    subprocess.run([*entrypoint, script], env=env, check=True, timeout=30)
    return calls.read_text("utf-8").splitlines()


def test_the_schema_job_creates_and_upgrades_both_databases(tmp_path: Path) -> None:
    """The schema job runs create, setup-schema and update-schema for the temporal and the
    visibility database, against the postgresql service, in that order."""
    calls = _run_job("temporal-schema", {"temporal-sql-tool": "exit 0"}, tmp_path)
    steps = [(c.split("--db ")[1].split()[0], c.split("--db ")[1].split()[1]) for c in calls]
    assert steps == [
        ("temporal", "create"),
        ("temporal", "setup-schema"),
        ("temporal", "update-schema"),
        ("temporal_visibility", "create"),
        ("temporal_visibility", "setup-schema"),
        ("temporal_visibility", "update-schema"),
    ]
    assert all("--ep postgresql" in c and "-u temporal" in c for c in calls)
    assert calls[2].endswith("/etc/temporal/schema/postgresql/v12/temporal/versioned")


def test_the_namespace_job_creates_only_a_missing_namespace(tmp_path: Path) -> None:
    """When `namespace describe` fails the job creates the namespace with the retention of
    .env; when it succeeds, the job creates nothing."""
    missing = 'case "$*" in *"namespace describe"*) exit 1;; esac'
    calls = _run_job("temporal-namespace", {"temporal": missing}, tmp_path / "missing")
    assert "temporal operator namespace create -n default --retention 72h" in calls
    calls = _run_job("temporal-namespace", {"temporal": "exit 0"}, tmp_path / "present")
    assert not [c for c in calls if "namespace create" in c]


def test_the_namespace_job_registers_agent_status_once(tmp_path: Path) -> None:
    """The job creates the AgentStatus Keyword search attribute in the namespace when the
    namespace's list lacks it, and leaves it alone when the list has it."""
    calls = _run_job("temporal-namespace", {"temporal": "exit 0"}, tmp_path / "missing")
    create = (
        "temporal operator search-attribute create -n default --name AgentStatus --type Keyword"
    )
    assert calls[-1] == create
    listed = 'case "$*" in *"search-attribute list"*) echo "  AgentStatus  Keyword";; esac'
    calls = _run_job("temporal-namespace", {"temporal": listed}, tmp_path / "present")
    assert not [c for c in calls if "search-attribute create" in c]
