"""Log formats, secret masking, tracing and metrics settings, retry accounting (no server)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.exceptions import ApplicationError

from agentic_loop.config import ConfigError, Settings
from agentic_loop.telemetry import (
    configure_logging,
    interceptors,
    metrics_runtime,
    tracing_mode,
)
from agentic_loop.telemetry.interceptor import (
    AgentInterceptor,
    error_type,
    step_of_tool,
    will_retry,
)
from agentic_loop.types import ToolCall, ToolRequest

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
WORKFLOW = {"workflow_id": "agent-1", "run_id": "run-1", "workflow_type": "AgentWorkflow"}


Capture = Callable[..., io.StringIO]


@pytest.fixture
def capture() -> Iterator[Capture]:
    """configure_logging(Settings(**fields)) writing to a buffer; undone afterwards."""
    root = logging.getLogger()
    level = root.level
    handlers: list[logging.Handler] = []

    def configure(**fields: str) -> io.StringIO:
        stream = io.StringIO()
        handlers.append(configure_logging(Settings(openai_api_key=SECRET, **fields), stream))
        return stream

    try:
        yield configure
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)


LOG = logging.getLogger("agentic_loop.test")


def test_json_lines_carry_workflow_run_and_step(
    capture: Capture,
) -> None:
    """A workflow log record becomes one JSON object with workflow_id, run_id and step."""
    stream = capture(log_format="json")
    LOG.info("step %d: calling the LLM", 2, extra={"temporal_workflow": WORKFLOW, "step": 2})
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "step 2: calling the LLM"
    assert (record["workflow_id"], record["run_id"], record["step"]) == ("agent-1", "run-1", 2)
    assert record["level"] == "info"
    assert record["logger"] == "agentic_loop.test"


def test_activity_records_name_their_workflow_and_attempt(
    capture: Capture,
) -> None:
    """An activity record's context (SDK's temporal_activity extra) gives the workflow id,
    run id, activity type and attempt."""
    stream = capture(log_format="json")
    details = {
        "activity_type": "call_llm",
        "attempt": 3,
        "workflow_id": "agent-1",
        "workflow_run_id": "run-1",
    }
    LOG.warning("failed", extra={"temporal_activity": details, "step": 1})
    record = json.loads(stream.getvalue())
    assert {k: record[k] for k in ("workflow_id", "run_id", "activity_type", "attempt")} == {
        "workflow_id": "agent-1",
        "run_id": "run-1",
        "activity_type": "call_llm",
        "attempt": 3,
    }


def test_key_value_lines_for_terminals(capture: Capture) -> None:
    """The text format is one line: level, logger, message, then key=value context."""
    stream = capture(log_format="text")
    LOG.info("agent run finished", extra={"temporal_workflow": WORKFLOW, "status": "completed"})
    line = stream.getvalue().strip()
    assert "INFO    agentic_loop.test: agent run finished" in line
    assert line.endswith("workflow_id=agent-1 run_id=run-1 status=completed")


def test_known_secrets_are_masked_whoever_logs_them(
    capture: Capture,
) -> None:
    """An API key in a message or its arguments, from any logger, is printed as [redacted]."""
    stream = capture(log_format="json")
    LOG.error("Authorization: Bearer %s", SECRET)
    logging.getLogger("httpx").warning(f"header {SECRET}")
    output = stream.getvalue()
    assert SECRET not in output
    assert output.count("[redacted]") == 2


def test_bad_log_settings_are_config_errors() -> None:
    """An unknown format or level fails at start, naming the variable."""
    with pytest.raises(ConfigError, match="AGENTIC_LOOP_LOG_FORMAT"):
        configure_logging(Settings(log_format="xml"), io.StringIO())
    with pytest.raises(ConfigError, match="AGENTIC_LOOP_LOG_LEVEL"):
        configure_logging(Settings(log_level="LOUD"), io.StringIO())


def test_tracing_is_off_unless_asked_and_otlp_when_an_endpoint_is_set() -> None:
    """No setting: off; an OTLP endpoint alone: otlp; an unknown mode: ConfigError."""
    assert tracing_mode(Settings()) == "off"
    assert tracing_mode(Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})) == (
        "otlp"
    )
    assert tracing_mode(Settings(tracing="CONSOLE")) == "console"
    with pytest.raises(ConfigError, match="AGENTIC_LOOP_TRACING"):
        tracing_mode(Settings(tracing="jaeger"))


def test_interceptors_put_tracing_outside_the_agent_interceptor() -> None:
    """Without tracing the client gets our interceptor only; with a tracer provider, the
    SDK's TracingInterceptor comes first, so our spans nest inside its activity spans."""
    (only,) = interceptors(Settings())
    assert isinstance(only, AgentInterceptor)
    assert only.tracer is None
    tracing, agent = interceptors(Settings(), TracerProvider())
    assert isinstance(tracing, TracingInterceptor)
    assert isinstance(agent, AgentInterceptor)
    assert agent.tracer is not None


def test_no_metrics_address_means_the_default_runtime() -> None:
    """Without AGENTIC_LOOP_METRICS_ADDRESS no runtime is made; a malformed one is refused."""
    assert metrics_runtime(Settings()) is None
    with pytest.raises(ConfigError, match="HOST:PORT"):
        metrics_runtime(Settings(metrics_address="9464"))


def _info(attempt: int, policy: RetryPolicy | None) -> activity.Info:
    now = datetime.now(UTC)
    return activity.Info(
        activity_id="1",
        activity_type="call_llm",
        attempt=attempt,
        current_attempt_scheduled_time=now,
        heartbeat_details=[],
        heartbeat_timeout=None,
        is_local=False,
        namespace="default",
        schedule_to_close_timeout=None,
        scheduled_time=now,
        start_to_close_timeout=timedelta(seconds=1),
        started_time=now,
        task_queue="tq",
        task_token=b"",
        workflow_id="wf",
        workflow_namespace="default",
        workflow_run_id="run",
        workflow_type="AgentWorkflow",
        priority=None,  # type: ignore[arg-type]
        retry_policy=policy,
        activity_run_id=None,
    )


def test_retries_are_counted_only_when_temporal_will_retry() -> None:
    """A retryable failure before the last attempt is a retry; a non-retryable one, a listed
    non-retryable type, or the last attempt is not."""
    policy = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["BadInput"])
    busy = ApplicationError("busy", type="LLM_HTTP_429")
    assert will_retry(busy, _info(1, policy))
    assert not will_retry(busy, _info(5, policy))
    assert not will_retry(ApplicationError("no", type="X", non_retryable=True), _info(1, policy))
    assert not will_retry(ApplicationError("bad", type="BadInput"), _info(1, policy))
    assert will_retry(RuntimeError("boom"), _info(1, RetryPolicy(maximum_attempts=0)))
    assert error_type(busy) == "LLM_HTTP_429"
    assert error_type(RuntimeError("boom")) == "RuntimeError"


def test_a_tool_call_s_step_comes_from_its_idempotency_key() -> None:
    """The turn number is read back from workflow/turn/call, even if the id has slashes."""
    call = ToolCall(id="call_1", name="calculator")
    assert step_of_tool(ToolRequest(call=call, idempotency_key="team/agent-7/3/call_1")) == 3
    assert step_of_tool(ToolRequest(call=call, idempotency_key="opaque")) is None


def test_the_worker_handler_replaces_the_command_line_one(
    capture: Capture, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the command's terse handler, `configure_logging` leaves one handler of ours, so
    a record is printed once and masked, never also in clear on stderr."""
    from agentic_loop.cli.logs import configure_command_logging

    configure_command_logging(Settings(openai_api_key=SECRET))
    stream = capture()
    LOG.warning("key %s", SECRET)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_agentic_loop", False)]
    assert len(ours) == 1
    assert SECRET not in capsys.readouterr().err
    assert stream.getvalue().count("key [redacted]") == 1


def test_a_replaced_log_file_handler_is_closed(capture: Capture, tmp_path: Path) -> None:
    """The command's log file, once written, is closed when the worker's handler replaces
    its handler: left open, it would wait for the garbage collector (a ResourceWarning)."""
    from agentic_loop.cli.logs import configure_command_logging

    log_file = tmp_path / "agentic-loop.log"
    configure_command_logging(Settings(log_file=log_file))
    [file_handler] = [h for h in logging.getLogger().handlers if getattr(h, "_agentic_loop", False)]
    assert isinstance(file_handler, logging.FileHandler)
    LOG.warning("before the worker")
    stream = file_handler.stream
    assert stream is not None
    assert not stream.closed
    capture()
    assert stream.closed
    assert "before the worker" in log_file.read_text()
