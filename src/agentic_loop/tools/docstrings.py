"""Google-style docstrings, read for what a tool tells the model: its description (the text
before the first section) and one description per argument (the `Args:` section)."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_SECTION = re.compile(
    r"(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters"
    r"|Returns?|Yields?|Raises|Warns|Examples?|Notes?|Warnings?|See Also|Todo|References"
    r"|Attributes|Methods):\s*"
)
_ARGUMENT_SECTIONS = frozenset(
    {"Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments"}
)
# "name: text" or "name (int, optional): text"; stars allowed so *args entries still parse.
_ENTRY = re.compile(r"\*{0,2}(?P<name>\w+)\s*(?:\([^)]*\))?\s*:(?P<text>.*)")


@dataclass(frozen=True)
class Docstring:
    description: str = ""
    arguments: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """The description and argument descriptions of a docstring; empty for None."""
    if not doc:
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    starts = [i for i, line in enumerate(lines) if _SECTION.fullmatch(line)]
    description = _paragraphs(lines[: starts[0]] if starts else lines)
    arguments: dict[str, str] = {}
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        # A section ends at its next unindented line, even one that is not a header.
        body = lines[start + 1 : end]
        for offset, line in enumerate(body):
            if line.strip() and not line[0].isspace():
                body = body[:offset]
                break
        if lines[start].strip().rstrip(":") in _ARGUMENT_SECTIONS:
            arguments.update(_entries(body))
    return Docstring(description, arguments)


def _entries(body: list[str]) -> dict[str, str]:
    indents = [len(line) - len(line.lstrip()) for line in body if line.strip()]
    if not indents:
        return {}
    # Entries start at the section's shallowest indent; deeper lines continue the one above.
    entry_indent = min(indents)
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body:
        indent = len(line) - len(line.lstrip())
        match = _ENTRY.fullmatch(line.strip()) if line.strip() else None
        if match is not None and indent == entry_indent:
            current = entries.setdefault(match["name"], [])
            current.append(match["text"])
        elif current is not None:
            current.append(line)
    return {name: _paragraphs(text) for name, text in entries.items()}


def _paragraphs(lines: list[str]) -> str:
    # Docstrings are wrapped to the source's line length; the model reads prose, so lines of
    # one paragraph are joined and only the breaks between paragraphs are kept.
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(" ".join(p) for p in paragraphs if p)
