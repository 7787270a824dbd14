"""AgentLoopPlugin: everything a client, a worker or a replayer of the agent loop needs.

Handed to `Client.connect(plugins=[...])`, it gives the client the data converter (with the
payload codec), the interceptors (tracing, metrics, logs) and the metrics runtime; every
`Worker` built on that client then also gets AgentWorkflow, the workflow runner with our
modules passed through the sandbox, and the `call_llm` and `run_tool` activities, made from
the plugin's provider and tools. `Replayer(workflows=[], plugins=[plugin])` judges a history
with exactly the converter, workflows and runner the workers use.

One object carries all of it, so nothing can be configured in one place and forgotten in
another: a replayer without the codec cannot read an encrypted history, and a worker
without the passthrough list re-imports the payload types for every run.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.service import ConnectConfig, ServiceClient
from temporalio.worker import Replayer, Worker, WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agentic_loop.activities import LLMActivities, ToolActivities
from agentic_loop.config import AFFINITY_MODES, ConfigError, Settings
from agentic_loop.llm.base import LLMProvider
from agentic_loop.llm.pricing import PriceTable
from agentic_loop.telemetry.metrics import metrics_runtime
from agentic_loop.telemetry.tracing import interceptors
from agentic_loop.temporal.affinity import Affinity, affinity_worker
from agentic_loop.temporal.converter import data_converter
from agentic_loop.tools import Tool, ToolRegistry
from agentic_loop.tools.agents import agent_tool, check_agent
from agentic_loop.transcript.cache import TranscriptCache
from agentic_loop.types import SubAgent
from agentic_loop.workflow import AgentWorkflow

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from agentic_loop.tools.mcp.servers import McpServers

PLUGIN_NAME = "agentic_loop.AgentLoopPlugin"

# What a worker registers; the replayer must use exactly these to judge a history.
WORKFLOWS: tuple[type, ...] = (AgentWorkflow,)

# Modules the workflow imports, taken from outside the sandbox instead of re-imported for
# every workflow run: each is deterministic and holds no state that runs could share.
# Re-importing the payload types alone cost about 10% of the CPU of a step
# (docs/performance.md). tests/unit/test_sandbox.py checks the list is complete.
PASSTHROUGH_MODULES = (
    "agentic_loop.activities",
    "agentic_loop.llm.failover",
    "agentic_loop.tools.agents",
    "agentic_loop.transcript.keys",
    "agentic_loop.types",
    "agentic_loop.workflow.affinity",
    "agentic_loop.workflow.approvals",
    "agentic_loop.workflow.children",
    "agentic_loop.workflow.failover",
    "agentic_loop.workflow.inbox",
    "agentic_loop.workflow.options",
    "agentic_loop.workflow.policies",
    "agentic_loop.workflow.reports",
    "agentic_loop.workflow.state",
    "agentic_loop.workflow.visibility",
)

# Not ours, but met wherever an agent is tested: our pytest plugin (the pytest11 entry point)
# makes pytest rewrite the asserts of every agentic_loop module, and a rewritten module imports
# `_pytest.assertion.rewrite`, which the sandbox would re-import, with most of pytest, for
# every new workflow run: 40% of the CPU of a load test (docs/performance.md). Outside pytest
# nothing imports it and the entry does nothing.
PASSTHROUGH_UNDER_PYTEST = ("_pytest",)


def workflow_runner(base: WorkflowRunner | None = None) -> WorkflowRunner:
    """The sandbox with our modules passed through, on top of `base`'s restrictions. A runner
    of another kind (not sandboxed, for debugging; a subclass of the sandbox's) is the
    user's own choice and is left as it is."""
    if base is None:
        restrictions = SandboxRestrictions.default
    elif type(base) is SandboxedWorkflowRunner:
        restrictions = base.restrictions
    else:
        return base
    return SandboxedWorkflowRunner(
        restrictions=restrictions.with_passthrough_modules(
            *PASSTHROUGH_MODULES, *PASSTHROUGH_UNDER_PYTEST
        )
    )


def registered_name(fn: object) -> str | None:
    """The name an activity function or workflow class is registered under. The SDK keeps
    it on the object it decorated and offers no public accessor."""
    for attribute in ("__temporal_activity_definition", "__temporal_workflow_definition"):
        definition = getattr(fn, attribute, None)
        if definition is not None:
            name = getattr(definition, "name", None)
            return name if isinstance(name, str) else None
    return None


class AgentLoopPlugin(SimplePlugin):
    """The agent loop for Temporal clients, workers and replayers.

    settings: what the environment configures (codec keys, tracing, metrics, the provider
    and tools when not given here); read from the environment when None.
    provider, tools: what this process's workers answer `call_llm` and `run_tool` with; when
    None, the provider and tools the settings name, made when the first worker needs them (a
    client that only starts agents never makes them).
    cache: the workers' transcript cache, shared by every worker of this plugin.
    agents: sub-agents every worker offers the model besides its tools, each run as a child
    workflow when called (docs/sub-agents.md).
    mcp: the MCP servers whose tools every worker offers besides its own (docs/mcp.md); when
    None, those of the settings' file (AGENTIC_LOOP_MCP), if any. They start with the first
    worker that runs (or `start_mcp()`), and stop with the last.
    worker_affinity: whether each worker running `call_llm` also polls a task queue of its
    own, to which a conversation's next calls are routed (temporal/affinity.py): "auto",
    "always" or "off" (True and False for auto and off); None: as the settings say
    (AGENTIC_LOOP_WORKER_AFFINITY, auto unless set).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        provider: LLMProvider | None = None,
        tools: ToolRegistry | Iterable[Tool] | None = None,
        cache: TranscriptCache | None = None,
        tracer_provider: TracerProvider | None = None,
        prices: PriceTable | None = None,
        agents: Iterable[SubAgent] = (),
        mcp: McpServers | None = None,
        worker_affinity: bool | str | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        if worker_affinity is None:
            worker_affinity = self.settings.worker_affinity
        elif isinstance(worker_affinity, bool):
            worker_affinity = "auto" if worker_affinity else "off"
        if worker_affinity not in AFFINITY_MODES:
            raise ConfigError(f"worker_affinity={worker_affinity!r}: use auto, always or off")
        self.worker_affinity = worker_affinity
        # The worker-specific queues this plugin's workers poll, which serve activities only,
        # and the affinity of each LLM activity object made here.
        self._own_queues: set[str] = set()
        self._affinities: list[Affinity] = []
        if mcp is None and self.settings.mcp_file is not None:
            # Imported only here: the MCP SDK takes a second to import, and most processes
            # (clients, replayers, workers without MCP) never need it.
            from agentic_loop.tools.mcp.servers import McpServers

            mcp = McpServers.from_file(self.settings.mcp_file)
        self.mcp = mcp
        # Registries the activities run tools from: the MCP tools are registered in each.
        self._served: list[ToolRegistry] = []
        self._mcp_users = 0
        self.agents = [check_agent(agent) for agent in agents]
        self.prices = (
            prices if prices is not None else PriceTable.from_file(self.settings.prices_file)
        )
        self._provider = provider
        self._tools = (
            tools if isinstance(tools, ToolRegistry) or tools is None else ToolRegistry(tools)
        )
        self.cache = (
            cache
            if cache is not None
            else TranscriptCache(max_bytes=int(self.settings.cache_mb * 1024 * 1024))
        )
        self._activities: list[Callable[..., Any]] | None = None
        # An embedded server's payload directory (keep_payloads_in), for clients connected
        # after it is set; AGENTIC_LOOP_PAYLOAD_STORE wins over it.
        self.payload_directory: Path | None = None
        super().__init__(
            PLUGIN_NAME,
            data_converter=lambda base: data_converter(self.settings, base, self.payload_directory),
            interceptors=interceptors(self.settings, tracer_provider),
            workflows=self._with_workflows,
            workflow_runner=workflow_runner,
            activities=self._with_activities,
        )

    def keep_payloads_in(self, directory: Path) -> None:
        """Keep payloads too big for history in `directory` (made if need be), unless
        AGENTIC_LOOP_PAYLOAD_STORE names a store: what an embedded server does, beside its
        database. Applies to the clients (and their workers) connected from now on."""
        self.payload_directory = directory

    @property
    def provider(self) -> LLMProvider:
        if self._provider is None:
            from agentic_loop.llm import provider_from_settings

            self._provider = provider_from_settings(self.settings)
        return self._provider

    @property
    def tools(self) -> ToolRegistry:
        if self._tools is None:
            from agentic_loop.tools import build_registry

            self._tools = build_registry(self.settings.tools)
        return self._tools

    def agent_activities(
        self,
        *,
        provider: LLMProvider | None = None,
        tools: ToolRegistry | None = None,
        cache: TranscriptCache | None = None,
        prices: PriceTable | None = None,
    ) -> list[Callable[..., Any]]:
        """`call_llm` and `run_tool` of the plugin's provider and tools, or of those given."""
        if provider is None and tools is None and cache is None and prices is None:
            if self._activities is None:
                self._activities = self.agent_activities(
                    provider=self.provider, tools=self.tools, cache=self.cache
                )
            return self._activities
        provider = provider if provider is not None else self.provider
        tools = self._with_agents(tools if tools is not None else self.tools)
        self._serve(tools)
        cache = cache if cache is not None else self.cache
        prices = prices if prices is not None else self.prices
        affinity = Affinity()
        affinity.route_first_calls = self.worker_affinity == "always"
        self._affinities.append(affinity)
        return [
            LLMActivities(provider, tools, cache, prices, affinity).call_llm,
            ToolActivities(tools, cache).run_tool,
        ]

    def _serve(self, tools: ToolRegistry) -> None:
        """Remember a registry the activities use, and give it the MCP tools already listed."""
        if all(served is not tools for served in self._served):
            self._served.append(tools)
        for listed in self.mcp.tools if self.mcp is not None else ():
            tools.register(listed)  # the same Tool again is a no-op

    async def start_mcp(self) -> None:
        """Start the MCP servers and list their tools into the workers' registries, now: a
        command calls it before its worker, so a server that cannot start is reported at once
        (McpServerUnavailable, a ConfigError). No-op without MCP servers."""
        if self.mcp is None:
            return
        await self.mcp.start()
        if self._tools is not None:
            self._serve(self._tools)
        for served in self._served:
            self._serve(served)

    @contextlib.asynccontextmanager
    async def _mcp_running(self) -> AsyncIterator[None]:
        # Shared by every worker of this plugin: started by the first, stopped after the last.
        if self.mcp is None:
            yield
            return
        self._mcp_users += 1
        try:
            await self.start_mcp()
            yield
        finally:
            self._mcp_users -= 1
            if self._mcp_users == 0:
                await self.mcp.aclose()

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        # Not SimplePlugin's run_context: that one wraps replayers too, which must never
        # start servers (a replay runs no activity).
        if worker.config().get("task_queue") in self._own_queues:
            await next(worker)  # the worker-specific one, run by its worker's block below
            return
        async with self._mcp_running(), affinity_worker(worker, self._affinity_of, self._own):
            await super().run_worker(worker, next)

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        config = super().configure_worker(config)
        if config.get("task_queue") in self._own_queues:
            config["workflows"] = []  # a worker-specific queue serves activities only
        return config

    def _affinity_of(self, llm: object) -> Affinity | None:
        if self.worker_affinity == "off" or not isinstance(llm, LLMActivities):
            return None
        return llm.affinity

    def _own(self, queue: str) -> None:
        self._own_queues.add(queue)

    def worker_queue(self, task_queue: str) -> str | None:
        """The task queue of its own that a worker of this plugin on `task_queue` names in its
        LLM turns now, so conversations follow it there; None while it is the only worker
        polling `task_queue` (or affinity is off): temporal/affinity.py."""
        return next((q for a in self._affinities if (q := a.active(task_queue))), None)

    def _with_agents(self, tools: ToolRegistry) -> ToolRegistry:
        """The tools and the plugin's sub-agents, in a registry of their own (the given one
        is left as it was); a sub-agent named like a tool is a DuplicateToolError."""
        if not self.agents:
            return tools
        return ToolRegistry(
            [*tools, *(agent_tool(a, source="AgentLoopPlugin(agents=...)") for a in self.agents)]
        )

    def _with_workflows(self, existing: Sequence[type] | None) -> list[type]:
        # A workflow already registered under AgentWorkflow's name wins: a versioning test
        # replays a changed copy of it, say.
        present = {registered_name(w) for w in existing or ()}
        return [*(existing or ()), *(w for w in WORKFLOWS if registered_name(w) not in present)]

    def _with_activities(
        self, existing: Sequence[Callable[..., Any]] | None
    ) -> list[Callable[..., Any]]:
        # Activities the worker was given under our names win: build_worker's, made of other
        # components, or a test's fake registered as `call_llm`.
        present = {registered_name(a) for a in existing or ()}
        if {"call_llm", "run_tool"} <= present:
            return list(existing or ())
        ours = [a for a in self.agent_activities() if registered_name(a) not in present]
        return [*(existing or ()), *ours]

    async def connect_service_client(
        self, config: ConnectConfig, next: Callable[[ConnectConfig], Awaitable[ServiceClient]]
    ) -> ServiceClient:
        runtime = metrics_runtime(self.settings)
        if runtime is not None and config.runtime is None:
            config = dataclasses.replace(config, runtime=runtime)
        return await next(config)

    async def aclose(self) -> None:
        """Close the provider's HTTP client (OpenAI's) and stop the MCP servers, once no
        worker uses them."""
        if self.mcp is not None:
            await self.mcp.aclose()
        aclose = getattr(self._provider, "aclose", None)
        if aclose is not None:
            await aclose()


def plugin_of(client: Client) -> AgentLoopPlugin:
    """The AgentLoopPlugin a client was connected with; a ConfigError saying how if none."""
    for plugin in client.config().get("plugins", ()):
        if isinstance(plugin, AgentLoopPlugin):
            return plugin
    raise ConfigError(
        "this client was connected without AgentLoopPlugin: connect it with "
        "Client.connect(..., plugins=[AgentLoopPlugin()]) (or agentic_loop.connect_client), "
        "so its workers get the codec, the interceptors and the sandbox settings"
    )


def replayer(plugin: AgentLoopPlugin | None = None, **options: Any) -> Replayer:
    """A Replayer that judges histories as this program's workers would run them."""
    return Replayer(workflows=[], plugins=[plugin or AgentLoopPlugin()], **options)
