"""The workflow sandbox takes every module of ours that the workflow imports from outside."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import agentic_loop
import agentic_loop.workflow
from agentic_loop.temporal.plugin import PASSTHROUGH_MODULES
from agentic_loop.testing import Script

WORKFLOW_MODULE = Path(agentic_loop.workflow.agent.__file__)


def _is_passthrough_block(node: ast.With) -> bool:
    return any(
        isinstance(item.context_expr, ast.Call)
        and ast.unparse(item.context_expr.func) == "workflow.unsafe.imports_passed_through"
        for item in node.items
    )


def _our_imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """Each agentic_loop module imported, with whether it is inside a passthrough block."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, inside: bool) -> None:
        if isinstance(node, ast.With) and _is_passthrough_block(node):
            inside = True
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agentic_loop"):
            found.append((node.module or "", inside))
        if isinstance(node, ast.Import):
            found.extend((a.name, inside) for a in node.names if a.name.startswith("agentic_loop"))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def test_every_module_the_workflow_imports_is_passed_through() -> None:
    """Each agentic_loop import of the workflow module sits under imports_passed_through() and
    is on the runner's list, so no run re-imports it (or, off the list, a later import of it
    from elsewhere in the sandbox would)."""
    imports = _our_imports(ast.parse(WORKFLOW_MODULE.read_text(encoding="utf-8")))
    assert imports, "the workflow module imports nothing of ours: is the path right?"
    outside = [module for module, inside in imports if not inside]
    assert outside == [], f"imported outside imports_passed_through(): {outside}"
    missing = sorted({m for m, _ in imports} - set(PASSTHROUGH_MODULES))
    assert missing == [], f"not in PASSTHROUGH_MODULES: {missing}"


def test_every_helper_module_of_the_workflow_package_is_passed_through() -> None:
    """A module added to agentic_loop.workflow beside the loop is on the passthrough list too
    (only the module defining the workflow class itself runs inside the sandbox)."""
    package = agentic_loop.workflow
    helpers = {
        f"{package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if info.name != "agent"
    }
    assert helpers - set(PASSTHROUGH_MODULES) == set()


def test_the_passthrough_list_names_only_modules_that_exist() -> None:
    """A module renamed or removed is taken off the list, not left naming nothing."""
    for name in PASSTHROUGH_MODULES:
        importlib.import_module(name)


# Code objects executed while a test below watches, by file (an audit hook cannot be removed,
# so it records only while `_WATCHING` is set). The sandbox imports a module by executing its
# code object, which the `exec` audit event reports, from whichever thread runs the workflow.
_WATCHING: list[bool] = []
_EXECUTED: list[str] = []


def _record_exec(event: str, args: tuple[object, ...]) -> None:
    if _WATCHING and event == "exec" and isinstance(args[0], types.CodeType):
        _EXECUTED.append(args[0].co_filename)


async def test_a_run_under_pytest_re_executes_no_module_of_pytest_nor_any_passed_through(
    run_agent: Callable[..., Any],
) -> None:
    """Under pytest, where our entry point has the asserts of every agentic_loop module
    rewritten (and each so imports `_pytest.assertion.rewrite`), a new workflow run executes the
    workflow module afresh in its sandbox, but no module of pytest's and none of the modules
    passed through."""
    assert type(agentic_loop.__spec__.loader).__name__ == "AssertionRewritingHook"
    sys.addaudithook(_record_exec)
    _WATCHING.append(True)
    try:
        run = await run_agent(Script().answers("Done."), goal="nothing to do")
    finally:
        _WATCHING.clear()
    assert run.result.answer == "Done."
    executed = [Path(name).as_posix() for name in _EXECUTED]
    assert any(name.endswith("agentic_loop/workflow/agent.py") for name in executed)
    assert [name for name in executed if "/_pytest/" in name] == []
    passed = {
        Path(importlib.import_module(m).__file__ or "").as_posix() for m in PASSTHROUGH_MODULES
    }
    assert sorted(passed.intersection(executed)) == []
