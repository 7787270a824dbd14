"""Traces, metrics and logs of a worker running the seed's example on the dev server."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import respx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

from agentic_loop.config import Settings
from agentic_loop.llm import ScriptedLLM, provider_from_settings
from agentic_loop.telemetry import configure_logging
from agentic_loop.temporal.connection import connect_client
from agentic_loop.temporal.plugin import AgentLoopPlugin
from agentic_loop.temporal.plugin import replayer as plugin_replayer
from agentic_loop.types import AgentStatus
from production_support import dev_address, dev_server, readable_history, run_seed, settings_for
from support import FIXTURES


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server() as env:
        yield env


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON log lines of the whole process at DEBUG, as `configure_logging` writes them."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    flags = (
        workflow.logger.workflow_info_on_message,
        workflow.logger.log_during_replay,
    )
    handler = configure_logging(
        Settings(log_format="json", log_level="DEBUG", openai_api_key=API_KEY), stream
    )
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        workflow.logger.workflow_info_on_message, workflow.logger.log_during_replay = flags


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --- traces ----------------------------------------------------------------------------------


def _tree(spans: tuple[ReadableSpan, ...]) -> list[Any]:
    """Spans as nested [name, children] lists, children in start order."""
    ids = {s.context.span_id for s in spans if s.context is not None}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)

    def build(parent: int | None) -> list[Any]:
        ordered = sorted(children.get(parent, []), key=lambda s: s.start_time or 0)
        return [[s.name, build(s.context.span_id if s.context else None)] for s in ordered]

    return build(None)


# The calculator call's place in the trace: inside the first LLM call's span when it runs
# inline (the default), in an activity of its own (a local one) otherwise.
_INLINE_TRACE = [
    [
        "StartActivity:call_llm",
        [["RunActivity:call_llm", [["llm.call", [["tool.call", []]]]]]],
    ],
    ["StartActivity:call_llm", [["RunActivity:call_llm", [["llm.call", []]]]]],
]
_ACTIVITY_TRACE = [
    ["StartActivity:call_llm", [["RunActivity:call_llm", [["llm.call", []]]]]],
    ["StartActivity:run_tool", [["RunActivity:run_tool", [["tool.call", []]]]]],
    ["StartActivity:call_llm", [["RunActivity:call_llm", [["llm.call", []]]]]],
]


@pytest.mark.parametrize(
    ("inline_tools", "activity_spans"),
    [(None, _INLINE_TRACE), ([], _ACTIVITY_TRACE)],
    ids=["inline-calculator", "calculator-activity"],
)
async def test_seed_run_has_a_span_tree_with_llm_and_tool_spans(
    dev_env: WorkflowEnvironment, inline_tools: list[str] | None, activity_spans: list[Any]
) -> None:
    """A traced client and worker give the seed's run one trace: the workflow, each LLM call
    with model, tokens and attempt, and the calculator call, nested under the LLM call that
    ran it inline or under its own activity."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = await connect_client(settings_for(dev_address(dev_env)), tracer_provider=provider)

    result, _ = await run_seed(client, inline_tools=inline_tools)

    assert result.status == AgentStatus.COMPLETED
    spans = exporter.get_finished_spans()
    assert _tree(spans) == [
        [
            "StartWorkflow:AgentWorkflow",
            [
                ["RunWorkflow:AgentWorkflow", []],
                *activity_spans,
                ["CompleteWorkflow:AgentWorkflow", []],
            ],
        ]
    ]
    llm = sorted((s for s in spans if s.name == "llm.call"), key=lambda s: s.start_time or 0)
    first = dict(llm[0].attributes or {})
    assert first["agentic_loop.step"] == 1
    assert first["temporal.activity.attempt"] == 1
    assert first["gen_ai.response.model"] == "script:seed.json"
    assert first["gen_ai.usage.input_tokens"] > 0
    assert first["gen_ai.usage.output_tokens"] > 0
    assert dict(llm[1].attributes or {})["agentic_loop.step"] == 2
    (tool,) = [s for s in spans if s.name == "tool.call"]
    assert tool.attributes is not None
    assert tool.attributes["gen_ai.tool.name"] == "calculator"
    assert tool.attributes["agentic_loop.tool.outcome"] == "ok"
    assert tool.attributes["agentic_loop.tool.inline"] == (inline_tools is None)


# --- metrics ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match["name"] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match["value"])
    return total


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
        return text


FLAKY_SEED = {
    "turns": [
        {
            "faults": [{"status": 503, "times": 1, "message": "overloaded", "retry_after": 0.1}],
            "tool_calls": [{"name": "calculator", "arguments": {"expression": "5 + 3"}}],
        },
        {"expect": {"role": "tool", "contains": "8"}, "content": "5 + 3 = 8."},
    ]
}


@pytest.mark.parametrize(
    "inline_tools", [None, []], ids=["inline-calculator", "calculator-activity"]
)
async def test_prometheus_endpoint_counts_llm_calls_tools_tokens_and_retries(
    dev_env: WorkflowEnvironment, inline_tools: list[str] | None
) -> None:
    """A worker with AGENTIC_LOOP_METRICS_ADDRESS serves, over HTTP, counters that move with
    the seed's run: LLM calls, tool calls by tool and outcome (whether the calculator ran
    inline or as an activity), tokens, retries by error type, step latency and finished runs."""
    port = _free_port()
    settings = settings_for(dev_address(dev_env), AGENTIC_LOOP_METRICS_ADDRESS=f"127.0.0.1:{port}")
    client = await connect_client(settings)
    before = scrape(port)
    assert metric(before, "agentic_loop_llm_calls") == 0

    await run_seed(client, inline_tools=inline_tools)
    await run_seed(
        client, ScriptedLLM.from_data(FLAKY_SEED, name="flaky"), inline_tools=inline_tools
    )

    after = scrape(port)
    assert metric(after, "agentic_loop_llm_calls", outcome="ok") == 4
    assert metric(after, "agentic_loop_llm_calls", outcome="error") == 1
    assert metric(after, "agentic_loop_tool_calls", tool="calculator", outcome="ok") == 2
    assert metric(after, "agentic_loop_llm_tokens", kind="prompt") > 0
    assert metric(after, "agentic_loop_llm_tokens", kind="completion") > 0
    assert metric(after, "agentic_loop_retries", error_type="LLM_HTTP_503") == 1
    assert metric(after, "agentic_loop_step_latency_count", kind="llm") == 5
    assert metric(after, "agentic_loop_step_latency_count", kind="tool") == 2
    assert metric(after, "agentic_loop_agent_runs", status="completed") == 2
    # The SDK's own metrics share the endpoint.
    assert metric(after, "temporal_activity_execution_latency_count") >= 5


# --- logs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inline_tools", "tool_line", "tool_activity"),
    [
        (None, "step 1: calculator answered in the LLM activity", "call_llm"),
        ([], "step 1: running calculator", "run_tool"),
    ],
    ids=["inline-calculator", "calculator-activity"],
)
async def test_logs_carry_workflow_run_and_step_and_replay_adds_none(
    dev_env: WorkflowEnvironment,
    log_lines: io.StringIO,
    inline_tools: list[str] | None,
    tool_line: str,
    tool_activity: str,
) -> None:
    """Each workflow log line is JSON with workflow_id, run_id and step, appears once, and
    replaying the history (where the interceptor runs again) logs nothing more; the
    calculator's activity log line names the activity it ran in."""
    client = await connect_client(settings_for(dev_address(dev_env)))
    result, handle = await run_seed(client, inline_tools=inline_tools)
    assert result.status == AgentStatus.COMPLETED

    def workflow_lines() -> list[dict[str, Any]]:
        return [
            r
            for r in _records(log_lines)
            if r["logger"] == "temporalio.workflow" and r.get("workflow_id") == handle.id
        ]

    live = workflow_lines()
    assert [r["message"] for r in live] == [
        "agent run started",
        "step 1: calling the LLM",
        tool_line,
        "step 2: calling the LLM",
        "agent run finished: completed after 2 LLM turns and 1 tool calls",
    ]
    assert [r["step"] for r in live] == [0, 1, 1, 2, 2]
    assert all(r["run_id"] == handle.result_run_id for r in live)
    activity_lines = [
        r
        for r in _records(log_lines)
        if r["logger"] == "temporalio.activity" and r["level"] == "info"
    ]
    assert [(r["activity_type"], r["step"]) for r in activity_lines] == [
        *([("call_llm", 1)] if tool_activity == "run_tool" else []),
        (tool_activity, 1),
        *([("call_llm", 1)] if tool_activity == "call_llm" else []),
        ("call_llm", 2),
    ]
    (tool_record,) = [r for r in activity_lines if r.get("tool") == "calculator"]
    assert tool_record["outcome"] == "ok"
    assert tool_record["inline"] == (inline_tools is None)

    history = await handle.fetch_history()
    # The plugin brings the same interceptors a worker has, ours among them.
    replayer = plugin_replayer(AgentLoopPlugin(Settings()))
    await replayer.replay_workflow(history)
    assert workflow_lines() == live

    # The control: told to log during replay, the same replay does log, so the interceptor
    # really ran and the silence above is the logger's replay-safety.
    workflow.logger.log_during_replay = True
    await replayer.replay_workflow(history)
    assert len(workflow_lines()) == 2 * len(live)


API_KEY = "sk-proj-SENTINEL0123456789abcdefTOPSECRET"
BASE_URL = "https://api.openai.test/v1"


def _openai_body(name: str) -> Any:
    return json.loads((FIXTURES / "openai" / f"{name}.json").read_text(encoding="utf-8"))


async def test_openai_api_key_never_reaches_logs_or_history(
    dev_env: WorkflowEnvironment, log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OPENAI_API_KEY set and the OpenAI provider really sending it (respx checks the
    header), the key appears in no log line, not even at DEBUG, and nowhere in the history."""
    raw: list[str] = []

    class Raw(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raw.append(record.getMessage())

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", BASE_URL)
    monkeypatch.setenv("AGENTIC_LOOP_LLM", "openai")
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_address(dev_env))
    settings = Settings.from_env()
    provider = provider_from_settings(settings)
    raw_handler = Raw()
    logging.getLogger().addHandler(raw_handler)
    try:
        with respx.mock(base_url=BASE_URL, assert_all_called=True) as api:
            route = api.post("/chat/completions").mock(
                side_effect=[
                    httpx.Response(200, json=_openai_body("tool_call")),
                    httpx.Response(200, json=_openai_body("text_answer")),
                ]
            )
            client = await connect_client(settings)
            result, handle = await run_seed(client, provider, goal="What is 12 * 7?")
    finally:
        logging.getLogger().removeHandler(raw_handler)

    assert result.status == AgentStatus.COMPLETED
    assert route.call_count == 2
    assert route.calls[0].request.headers["authorization"] == f"Bearer {API_KEY}"
    assert len(raw) > 10  # DEBUG logging was on: the silence below is meaningful
    assert not [m for m in raw if API_KEY in m]
    assert API_KEY not in log_lines.getvalue()
    assert API_KEY not in readable_history((await handle.fetch_history()).to_json())
