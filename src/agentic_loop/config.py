"""Every environment variable the program reads is read here, and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from agentic_loop.types import DEFAULT_TOOL_RESULT_LIMIT_BYTES

DEFAULT_TASK_QUEUE = "agentic-loop"
DEFAULT_NAMESPACE = "default"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5"
DEFAULT_GOAL = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"
# The Web UI of docker-compose.yml and that of the dev server: the origins a codec server answers.
DEFAULT_CODEC_CORS_ORIGINS = ("http://localhost:8088", "http://localhost:8233")
# Payloads from this size on are kept outside history: well under Temporal's 2 MB limit for one
# payload, and the SDK's own default.
DEFAULT_PAYLOAD_STORE_THRESHOLD = 256 * 1024
# Temporal rejects a payload over 2 MB: a larger threshold could never take effect.
MAX_PAYLOAD_STORE_THRESHOLD = 2 * 1024 * 1024
# No model's context holds more than this of one tool result; "none" lifts the cut altogether.
MAX_TOOL_RESULT_LIMIT_BYTES = 64 * 1024 * 1024


class ConfigError(ValueError):
    """A setting that cannot work; the message says which variable to fix."""


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("agentic-loop")) / "temporal.db"


def default_log_path() -> Path:
    return Path(platformdirs.user_log_dir("agentic-loop")) / "agentic-loop.log"


@dataclass(frozen=True)
class Settings:
    # None: no server given, so `run` starts an embedded one.
    temporal_address: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE
    # Whether AGENTIC_LOOP_TASK_QUEUE was set (`run` and `chat` then use that queue as given).
    task_queue_set: bool = False
    # "fake", "openai", "anthropic" or "scripted:PATH"; None picks by the keys set (llm_choice).
    llm: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_model: str = DEFAULT_OPENAI_MODEL
    anthropic_api_key: str | None = field(default=None, repr=False)
    # None: the SDK's https://api.anthropic.com (without /v1, as the SDK wants it).
    anthropic_base_url: str | None = None
    anthropic_model: str = DEFAULT_ANTHROPIC_MODEL
    db_filename: Path | None = None
    # Tools whose calls wait for a person's approve/reject (AGENTIC_LOOP_APPROVAL_TOOLS=a,b).
    approval_tools: tuple[str, ...] = ()
    # The longest wait before one retry that a provider's rate-limit headers may ask for
    # (AGENTIC_LOOP_MAX_RETRY_DELAY, seconds); past it the retry policy's back-off applies.
    max_retry_delay_seconds: float = 600.0
    # What a worker's transcript cache may hold, in MiB (AGENTIC_LOOP_CACHE_MB;
    # transcript/cache.py says why 256).
    cache_mb: float = 256.0
    # Whether each worker also polls a task queue of its own, where a conversation's next
    # calls go (temporal/affinity.py): "auto" (once a call came to the wrong worker), "always"
    # (from a conversation's first call: for a server that starts no activity eagerly) or
    # "off" (AGENTIC_LOOP_WORKER_AFFINITY=auto|always|off; 1 and 0 mean auto and off).
    worker_affinity: str = "auto"
    # A JSON file of model prices over the defaults (AGENTIC_LOOP_PRICES; llm/pricing.py).
    prices_file: Path | None = None
    # Where a worker's tools come from besides the built-ins and installed entry points:
    # modules or module:attribute specs (AGENTIC_LOOP_TOOLS=mypkg.tools,other:TOOLS).
    tools: tuple[str, ...] = ()
    # A JSON file of MCP servers whose tools a worker offers (AGENTIC_LOOP_MCP; `--mcp FILE`
    # wins over it; docs/mcp.md).
    mcp_file: Path | None = None
    # Every TEMPORAL_* variable, handed to temporalio.envconfig (address, namespace, API key,
    # TLS, profile, temporal.toml path) so the SDK's own rules apply. Hidden from repr: it
    # may hold an API key or a private key.
    temporal_env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # host:port of the Prometheus endpoint; None for no metrics endpoint.
    metrics_address: str | None = None
    # "otlp", "console" or "off"; None: "otlp" when an OTLP endpoint is set, else "off".
    tracing: str | None = None
    otlp_endpoint: str | None = None
    service_name: str = "agentic-loop"
    # "json" (one object a line), "text" (key=value); "text" unless set.
    log_format: str = "text"
    log_level: str = "INFO"
    # Where the one-off commands (run, chat, status, ...) write the SDK's and the in-process
    # worker's warnings, which are not for the person at the terminal (AGENTIC_LOOP_LOG_FILE;
    # `--verbose` shows them on stderr instead). Long-running commands log to stderr.
    log_file: Path = field(default_factory=default_log_path)
    # "id:base64key,id:base64key": the first encrypts, all decrypt. Key material: no repr.
    codec_keys: str | None = field(default=None, repr=False)
    codec_token: str | None = field(default=None, repr=False)
    codec_cors_origins: tuple[str, ...] = DEFAULT_CODEC_CORS_ORIGINS
    # Where payloads too big for history go (temporal/payload_store.py): "s3://bucket/prefix"
    # or a directory (AGENTIC_LOOP_PAYLOAD_STORE); None: an embedded server's directory
    # beside its database, and no store at all on another server.
    payload_store: str | None = None
    # Payloads of at least this many bytes go to the store (AGENTIC_LOOP_PAYLOAD_STORE_THRESHOLD).
    payload_store_threshold: int = DEFAULT_PAYLOAD_STORE_THRESHOLD
    # An S3-compatible endpoint (MinIO, a test server) instead of AWS's
    # (AGENTIC_LOOP_PAYLOAD_STORE_ENDPOINT); credentials and region are boto3's own.
    payload_store_endpoint: str | None = None
    # What the model is shown of one tool result, in bytes, in the agents the CLI starts
    # (AGENTIC_LOOP_TOOL_RESULT_LIMIT; "none": all of it). AgentInput.tool_result_limit_bytes.
    tool_result_limit_bytes: int | None = DEFAULT_TOOL_RESULT_LIMIT_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        db = get("AGENTIC_LOOP_DB")
        return cls(
            temporal_address=get("TEMPORAL_ADDRESS"),
            namespace=get("TEMPORAL_NAMESPACE") or DEFAULT_NAMESPACE,
            task_queue=get("AGENTIC_LOOP_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
            task_queue_set=get("AGENTIC_LOOP_TASK_QUEUE") is not None,
            llm=get("AGENTIC_LOOP_LLM"),
            openai_api_key=get("OPENAI_API_KEY"),
            openai_base_url=get("OPENAI_BASE_URL"),
            openai_model=get("OPENAI_MODEL") or DEFAULT_OPENAI_MODEL,
            anthropic_api_key=get("ANTHROPIC_API_KEY"),
            anthropic_base_url=get("ANTHROPIC_BASE_URL"),
            anthropic_model=get("ANTHROPIC_MODEL") or DEFAULT_ANTHROPIC_MODEL,
            db_filename=Path(db).expanduser() if db else None,
            approval_tools=_items(get("AGENTIC_LOOP_APPROVAL_TOOLS")),
            tools=_items(get("AGENTIC_LOOP_TOOLS")),
            mcp_file=Path(mcp).expanduser() if (mcp := get("AGENTIC_LOOP_MCP")) else None,
            prices_file=Path(prices).expanduser()
            if (prices := get("AGENTIC_LOOP_PRICES"))
            else None,
            max_retry_delay_seconds=_positive(
                get("AGENTIC_LOOP_MAX_RETRY_DELAY"), "AGENTIC_LOOP_MAX_RETRY_DELAY", 600.0
            ),
            cache_mb=_positive(
                get("AGENTIC_LOOP_CACHE_MB"), "AGENTIC_LOOP_CACHE_MB", 256.0, unit="MiB", e_g="512"
            ),
            worker_affinity=_affinity(get("AGENTIC_LOOP_WORKER_AFFINITY")),
            temporal_env=tuple(
                sorted((k, v) for k, v in env.items() if k.startswith("TEMPORAL_") and v.strip())
            ),
            metrics_address=get("AGENTIC_LOOP_METRICS_ADDRESS"),
            tracing=get("AGENTIC_LOOP_TRACING"),
            otlp_endpoint=get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            service_name=get("OTEL_SERVICE_NAME") or "agentic-loop",
            log_format=(get("AGENTIC_LOOP_LOG_FORMAT") or "text").lower(),
            log_level=(get("AGENTIC_LOOP_LOG_LEVEL") or "INFO").upper(),
            log_file=Path(log).expanduser()
            if (log := get("AGENTIC_LOOP_LOG_FILE"))
            else default_log_path(),
            codec_keys=get("AGENTIC_LOOP_CODEC_KEYS"),
            codec_token=get("AGENTIC_LOOP_CODEC_TOKEN"),
            codec_cors_origins=tuple(
                o.rstrip("/") for o in _items(get("AGENTIC_LOOP_CODEC_CORS_ORIGINS"))
            )
            or DEFAULT_CODEC_CORS_ORIGINS,
            payload_store=get("AGENTIC_LOOP_PAYLOAD_STORE"),
            payload_store_threshold=_byte_count(
                get("AGENTIC_LOOP_PAYLOAD_STORE_THRESHOLD"),
                "AGENTIC_LOOP_PAYLOAD_STORE_THRESHOLD",
                DEFAULT_PAYLOAD_STORE_THRESHOLD,
                most=MAX_PAYLOAD_STORE_THRESHOLD,
                why=" (Temporal's limit for one payload)",
            ),
            payload_store_endpoint=get("AGENTIC_LOOP_PAYLOAD_STORE_ENDPOINT"),
            tool_result_limit_bytes=_tool_result_limit(get("AGENTIC_LOOP_TOOL_RESULT_LIMIT")),
        )

    @property
    def llm_choice(self) -> str:
        """The provider to use, after the default rule: OpenAI if its key is set, else
        Anthropic if its key is set, else the fake (OpenAI wins when both keys are set, so
        adding an Anthropic key never changes what an OpenAI setup runs)."""
        if self.llm:
            return self.llm
        if self.openai_api_key:
            return "openai"
        return "anthropic" if self.anthropic_api_key else "fake"


def _items(value: str | None) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _positive(
    value: str | None, name: str, default: float, *, unit: str = "seconds", e_g: str = "600"
) -> float:
    """A positive number (of seconds, unless `unit` says), or the default when unset; a
    ConfigError otherwise."""
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise ConfigError(f"{name}={value!r}: use a positive number of {unit}, e.g. {e_g}")
    return number


AFFINITY_MODES = ("auto", "always", "off")
_AFFINITY_WORDS = {"1": "auto", "on": "auto", "true": "auto", "0": "off", "false": "off"}


def _affinity(value: str | None) -> str:
    """AGENTIC_LOOP_WORKER_AFFINITY: auto (the default), always or off; 1 and 0 for auto and
    off. A ConfigError otherwise."""
    if value is None:
        return "auto"
    mode = _AFFINITY_WORDS.get(value.lower(), value.lower())
    if mode not in AFFINITY_MODES:
        raise ConfigError(
            f"AGENTIC_LOOP_WORKER_AFFINITY={value!r}: use auto, always or off (1 or 0)"
        )
    return mode


def _byte_count(value: str | None, name: str, default: int, *, most: int, why: str = "") -> int:
    """A whole number of bytes from 1 to `most`, or the default when unset; a ConfigError
    otherwise. Underscores may group digits (262_144)."""
    if value is None:
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        number = -1
    if not 1 <= number <= most:
        raise ConfigError(
            f"{name}={value!r}: use a whole number of bytes from 1 to {most}{why}, e.g. {default}"
        )
    return number


def _tool_result_limit(value: str | None) -> int | None:
    if value is not None and value.lower() == "none":
        return None
    return _byte_count(
        value,
        "AGENTIC_LOOP_TOOL_RESULT_LIMIT",
        DEFAULT_TOOL_RESULT_LIMIT_BYTES,
        most=MAX_TOOL_RESULT_LIMIT_BYTES,
        why=', or "none" to show the model every byte',
    )
