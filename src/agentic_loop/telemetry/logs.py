"""Logs: one line per record, JSON or key=value, carrying the workflow id, run id and step of
the workflow or activity that logged it; secrets the settings know are masked."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

import temporalio.activity
import temporalio.workflow

from agentic_loop.config import ConfigError, Settings

REDACTED = "[redacted]"
# Record attributes that every LogRecord has: anything else came in through `extra`.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def secrets_of(settings: Settings) -> list[str]:
    """Values that must never be printed: API keys, tokens, codec keys (as configured)."""
    found = [settings.openai_api_key, settings.anthropic_api_key, settings.codec_token]
    found += [
        value
        for name, value in settings.temporal_env
        if name == "TEMPORAL_API_KEY" or name.endswith("_KEY_DATA")
    ]
    if settings.codec_keys:
        found += [entry.partition(":")[2].strip() for entry in settings.codec_keys.split(",")]
    # Very short values would mask ordinary words; they are no secrets worth the name.
    return sorted({s for s in found if s and len(s) >= 8}, key=len, reverse=True)


class RedactSecrets(logging.Filter):
    """Masks known secret values in every record's final message, whoever logged it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            masked = message
            for secret in self.secrets:
                masked = masked.replace(secret, REDACTED)
            if masked != message:
                record.msg, record.args = masked, None
        return True


def log_context(record: logging.LogRecord) -> dict[str, Any]:
    """workflow_id, run_id, step (and activity fields) of a record, from the SDK's extras."""
    context: dict[str, Any] = {}
    workflow_info = getattr(record, "temporal_workflow", None)
    if isinstance(workflow_info, dict):
        context["workflow_id"] = workflow_info.get("workflow_id")
        context["run_id"] = workflow_info.get("run_id")
    activity_info = getattr(record, "temporal_activity", None)
    if isinstance(activity_info, dict):
        context["workflow_id"] = activity_info.get("workflow_id")
        context["run_id"] = activity_info.get("workflow_run_id")
        context["activity_type"] = activity_info.get("activity_type")
        context["attempt"] = activity_info.get("attempt")
    step = getattr(record, "step", None)
    if step is not None:
        context["step"] = step
    return {k: v for k, v in context.items() if v is not None}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    skip = _STANDARD_ATTRIBUTES | {"temporal_workflow", "temporal_activity", "step"}
    return {k: v for k, v in record.__dict__.items() if k not in skip and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **log_context(record),
            **_extras(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class KeyValueFormatter(logging.Formatter):
    """time level logger message key=value ...: for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {**log_context(record), **_extras(record)}
        pairs = " ".join(f"{k}={_kv(v)}" for k, v in fields.items())
        text = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        text = f"{text} {pairs}" if pairs else text
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _kv(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or " " in text or '"' in text else text


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Route every logger of the process to one structured handler; returns it."""
    if settings.log_format not in ("json", "text"):
        raise ConfigError(f"AGENTIC_LOOP_LOG_FORMAT={settings.log_format!r}: use 'json' or 'text'")
    level = logging.getLevelName(settings.log_level)
    if not isinstance(level, int):
        raise ConfigError(
            f"AGENTIC_LOOP_LOG_LEVEL={settings.log_level!r}: use DEBUG, INFO, WARNING or ERROR"
        )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else KeyValueFormatter())
    install_log_handler(handler, settings, level)
    # The context travels as fields of the record; the SDK would also paste it into the text.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
    return handler


def install_log_handler(handler: logging.Handler, settings: Settings, level: int) -> None:
    """Make `handler` the process's one log handler: every record reaches it once, with the
    known secrets masked. The command line installs a terse one first and a worker replaces
    it with the structured one; two handlers would print every line twice, one unmasked."""
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    root = logging.getLogger()
    # Only handlers of ours are replaced: others (a host application's, pytest's) stay.
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        # Nothing else holds it: a log file it opened would stay open until collected.
        old.close()
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level)


_OURS = "_agentic_loop"
