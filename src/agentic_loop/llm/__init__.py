"""LLM providers: the protocol, the fakes, OpenAI, Anthropic, and choosing one from settings."""

from __future__ import annotations

from dataclasses import replace

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm.base import CompletionRequest, LLMProvider
from agentic_loop.llm.errors import ProviderError, provider_error
from agentic_loop.llm.rule_based import RuleBasedLLM
from agentic_loop.llm.scripted import ScriptedLLM, ScriptError

__all__ = [
    "CompletionRequest",
    "LLMProvider",
    "ProviderError",
    "RuleBasedLLM",
    "ScriptError",
    "ScriptedLLM",
    "provider_error",
    "provider_from_settings",
]


def provider_from_settings(settings: Settings) -> LLMProvider:
    """The provider `AGENTIC_LOOP_LLM` names (a built-in, `module:factory`, or an installed
    `agentic_loop.providers` entry point), or OpenAI or Anthropic when its key is set, or the
    fake."""
    choice = settings.llm_choice
    if "," in choice:
        from agentic_loop.llm.failover import ProviderChain

        # The first for every call, the next ones when it fails for good (llm/failover.py).
        names = [name.strip() for name in choice.split(",") if name.strip()]
        try:
            return ProviderChain(
                [(name, provider_from_settings(replace(settings, llm=name))) for name in names]
            )
        except ValueError as e:
            raise ConfigError(f"AGENTIC_LOOP_LLM={choice}: {e}") from e
    if choice == "fake":
        return RuleBasedLLM()
    if choice.startswith("scripted:"):
        path = choice.removeprefix("scripted:")
        try:
            return ScriptedLLM.from_file(path)
        except ScriptError as e:
            raise ConfigError(f"AGENTIC_LOOP_LLM={choice}: {e}") from e
    if choice == "openai":
        from agentic_loop.llm.openai import OpenAIProvider

        return OpenAIProvider.from_settings(settings)
    if choice == "anthropic":
        from agentic_loop.llm.anthropic import AnthropicProvider

        return AnthropicProvider.from_settings(settings)
    from agentic_loop.llm.loading import load_provider

    return load_provider(choice, settings)
