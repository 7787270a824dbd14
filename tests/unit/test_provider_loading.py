"""A user's own provider plugs in by AGENTIC_LOOP_LLM, as OpenAI does: module:factory or an
installed package's `agentic_loop.providers` entry point."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm import provider_from_settings
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.loading import ENTRY_POINT_GROUP
from agentic_loop.types import Message
from support import install_distribution

PROVIDER_MODULE = """
from agentic_loop import LLMTurn


class EchoLLM:
    def __init__(self, model="echo-1"):
        self.model = model

    @property
    def name(self):
        return "echo"

    @property
    def default_model(self):
        return self.model

    async def complete(self, request):
        return LLMTurn(content="echo: " + request.messages[-1].content, model=self.model)


def make(settings):
    return EchoLLM(model=settings.openai_model)


def make_plain():
    return EchoLLM()


INSTANCE = EchoLLM("instance")
NOT_A_PROVIDER = 42


def broken():
    raise RuntimeError("no credentials")


def returns_junk():
    return object()
"""

Writer = Callable[[], str]


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A provider module under a fresh name on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"providers_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PROVIDER_MODULE), encoding="utf-8")
    return name


def _choose(choice: str, **fields: str) -> object:
    return provider_from_settings(Settings(llm=choice, **fields))


async def test_a_factory_taking_settings_makes_the_provider(module: str) -> None:
    """`module:factory` is called with the Settings, and its provider answers a turn."""
    provider = _choose(f"{module}:make", openai_model="from-settings")
    assert provider.name == "echo"  # type: ignore[attr-defined]
    assert provider.default_model == "from-settings"  # type: ignore[attr-defined]
    turn = await provider.complete(  # type: ignore[attr-defined]
        CompletionRequest(messages=[Message(role="user", content="hi")])
    )
    assert turn.content == "echo: hi"


def test_a_factory_without_parameters_and_a_provider_instance_work(module: str) -> None:
    """A factory of no arguments is called bare; a provider object is used as it is."""
    assert _choose(f"{module}:make_plain").default_model == "echo-1"  # type: ignore[attr-defined]
    assert _choose(f"{module}:INSTANCE").default_model == "instance"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("missing", "has no 'missing'"),
        ("NOT_A_PROVIDER", "neither a provider nor a factory"),
        ("broken", "the factory raised RuntimeError: no credentials"),
        ("returns_junk", "not an LLMProvider (it lacks name, default_model, complete)"),
    ],
)
def test_a_bad_factory_is_a_config_error_naming_it(
    module: str, attribute: str, message: str
) -> None:
    """Each way a factory can be wrong is one ConfigError naming the variable and the cause."""
    with pytest.raises(ConfigError, match=f"AGENTIC_LOOP_LLM={module}:{attribute}") as caught:
        _choose(f"{module}:{attribute}")
    assert message in str(caught.value)


def test_an_unknown_module_says_so() -> None:
    """A module that is not installed is named, with the fix."""
    with pytest.raises(ConfigError, match=r"there is no module no_such_pkg_xyz\.llm; install it"):
        _choose("no_such_pkg_xyz.llm:make")


def test_an_installed_entry_point_is_chosen_by_its_name(module: str, tmp_path: Path) -> None:
    """A package's `agentic_loop.providers` entry point is chosen by AGENTIC_LOOP_LLM=NAME."""
    install_distribution(
        tmp_path, "echo-dist", "1.0", {ENTRY_POINT_GROUP: {"echo": f"{module}:make_plain"}}
    )
    assert _choose("echo").name == "echo"  # type: ignore[attr-defined]


def test_an_unknown_name_lists_what_could_be_meant() -> None:
    """A name that is no built-in and no entry point says what AGENTIC_LOOP_LLM accepts."""
    with pytest.raises(ConfigError, match="is not a provider: use 'openai', 'fake'"):
        _choose("nonexistent-provider")
