"""LLM providers: the protocol, the fakes, OpenAI, Anthropic, and choosing one from settings.

Names are imported when first used: the activities and the workflow import this package for
the protocol alone, and must not pay for the fakes (or a provider's SDK).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from agentic_loop.config import ConfigError, Settings
from agentic_loop.lazy import lazy_attributes

_WHERE = {
    "CompletionRequest": "agentic_loop.llm.base",
    "LLMProvider": "agentic_loop.llm.base",
    "ProviderError": "agentic_loop.llm.errors",
    "provider_error": "agentic_loop.llm.errors",
    "RuleBasedLLM": "agentic_loop.llm.rule_based",
    "ScriptedLLM": "agentic_loop.llm.scripted",
    "ScriptError": "agentic_loop.llm.scripted",
}

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

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals(), __all__)

if TYPE_CHECKING:
    from agentic_loop.llm.base import CompletionRequest, LLMProvider
    from agentic_loop.llm.errors import ProviderError, provider_error
    from agentic_loop.llm.rule_based import RuleBasedLLM
    from agentic_loop.llm.scripted import ScriptedLLM, ScriptError


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
        from agentic_loop.llm.rule_based import RuleBasedLLM

        return RuleBasedLLM()
    if choice.startswith("scripted:"):
        from agentic_loop.llm.scripted import ScriptedLLM, ScriptError

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
