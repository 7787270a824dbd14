"""Every environment variable the program reads is read here, and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_TASK_QUEUE = "agentic-loop"
DEFAULT_NAMESPACE = "default"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_GOAL = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"


class ConfigError(ValueError):
    """A setting that cannot work; the message says which variable to fix."""


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("agentic-loop")) / "temporal.db"


@dataclass(frozen=True)
class Settings:
    # None: no server given, so `run` starts an embedded one.
    temporal_address: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE
    # "fake", "openai", or "scripted:PATH"; None picks openai when a key is set, else fake.
    llm: str | None = None
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = DEFAULT_OPENAI_MODEL
    db_filename: Path | None = None

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
            llm=get("AGENTIC_LOOP_LLM"),
            openai_api_key=get("OPENAI_API_KEY"),
            openai_base_url=get("OPENAI_BASE_URL"),
            openai_model=get("OPENAI_MODEL") or DEFAULT_OPENAI_MODEL,
            db_filename=Path(db).expanduser() if db else None,
        )

    @property
    def llm_choice(self) -> str:
        """The provider to use, after the default rule (OpenAI if a key is set)."""
        if self.llm:
            return self.llm
        return "openai" if self.openai_api_key else "fake"
