"""Providers from outside the package: `AGENTIC_LOOP_LLM=module:factory`, or the name of an
entry point in the `agentic_loop.providers` group of an installed package.

A factory is a callable that takes the Settings (or nothing) and returns an LLMProvider; the
attribute may also be a provider itself. A user's provider then goes through exactly the
path OpenAI's does: the same activity, retries, history and plugin.
"""

from __future__ import annotations

import importlib
import inspect
from importlib import metadata
from typing import Any

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm.base import LLMProvider

ENTRY_POINT_GROUP = "agentic_loop.providers"


class ProviderLoadError(ConfigError):
    """A provider named by AGENTIC_LOOP_LLM that cannot be made; the message says why."""


def entry_point_names() -> list[str]:
    return sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})


def load_provider(choice: str, settings: Settings) -> LLMProvider:
    """The provider `choice` names: `module:attribute`, or an entry point's name."""
    what = f"AGENTIC_LOOP_LLM={choice}"
    if ":" in choice:
        module_name, _, attribute = choice.partition(":")
        target = _attribute(module_name, attribute, what)
    else:
        found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == choice]
        if not found:
            installed = ", ".join(entry_point_names()) or "none installed"
            raise ProviderLoadError(
                f"{what} is not a provider: use 'openai', 'fake', 'scripted:PATH', "
                f"'module:factory' or the name of an {ENTRY_POINT_GROUP} entry point "
                f"({installed})"
            )
        entry_point = found[0]
        what = f"{what} (entry point {entry_point.value})"
        module_name, _, attribute = entry_point.value.partition(":")
        target = _attribute(module_name.strip(), attribute.split("[")[0].strip(), what)
    provider = _made(target, settings, what)
    missing = [n for n in ("name", "default_model", "complete") if not hasattr(provider, n)]
    if missing:
        raise ProviderLoadError(
            f"{what} gave a {type(provider).__name__}, which is not an LLMProvider "
            f"(it lacks {', '.join(missing)})"
        )
    return provider


def _attribute(module_name: str, attribute: str, what: str) -> Any:
    if not module_name or not attribute:
        raise ProviderLoadError(f"{what}: write it as module:factory, e.g. mypkg.llm:make")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and module_name.startswith(e.name):
            raise ProviderLoadError(
                f"{what}: there is no module {module_name}; install it or fix the name"
            ) from e
        raise ProviderLoadError(f"{what}: importing {module_name} failed: {e}") from e
    except Exception as e:
        raise ProviderLoadError(f"{what}: importing {module_name} failed: {e}") from e
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ProviderLoadError(f"{what}: module {module_name} has no {attribute!r}") from None


def _made(target: Any, settings: Settings, what: str) -> LLMProvider:
    if hasattr(target, "complete") and not inspect.isclass(target):
        provider: LLMProvider = target
        return provider
    if not callable(target):
        raise ProviderLoadError(f"{what} is neither a provider nor a factory of one")
    try:
        takes_settings = bool(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        takes_settings = False
    try:
        made: LLMProvider = target(settings) if takes_settings else target()
    except ConfigError:
        raise
    except Exception as e:
        raise ProviderLoadError(f"{what}: the factory raised {type(e).__name__}: {e}") from e
    return made
