"""Names of a package imported when first used, so importing the package costs nothing.

`agentic_loop` and `agentic_loop.testing` export many names from modules that pull in
temporalio, openai or pytest; a command's start-up, or pytest loading the kit's plugin in a
project that never uses it, must not pay for them (PEP 562 module `__getattr__`). The
subpackages `tools`, `llm`, `workflow` and `telemetry` do the same, so that importing one of
their modules (the registry, the protocol, the failure types, the logs) loads only that.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, where: Mapping[str, str], namespace: dict[str, Any], public: list[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`: a name of `where` (name -> module) is
    imported from its module on first use and kept in `namespace` from then on."""

    def get(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # once found, an ordinary attribute
        return value

    def names() -> list[str]:
        return sorted([*namespace, *public])

    return get, names
