"""A simulated web search over a bundled corpus.

It stands in for a real search API so the agent loop can be demonstrated and tested offline:
the same query always returns the same results, and nothing leaves the machine.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Annotated, Any

from pydantic import Field

from agentic_loop.tools.base import ToolError
from agentic_loop.tools.decorator import tool

MAX_RESULTS = 10
DEFAULT_RESULTS = 3
MAX_QUERY_LENGTH = 500

# A match in the title says more about what a page is about than one in its snippet.
_TITLE_WEIGHT = 3.0
_SNIPPET_WEIGHT = 1.0

# Words so common that matching on them alone would return noise.
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "of",
        "on",
        "or",
        "the",
        "this",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
    }
)

# Letters and digits; "_" separates, so "tool_calls" matches "tool calls".
_WORD = re.compile(r"[^\W_]+")
# Splits a word where it changes between Hangul and anything else: "temporal의" is two terms.
_SCRIPT_RUN = re.compile(r"[\uac00-\ud7a3]+|[^\uac00-\ud7a3]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]+")


@dataclass(frozen=True)
class SearchHit:
    title: str
    url: str
    snippet: str
    score: float


@dataclass(frozen=True)
class _Document:
    title: str
    url: str
    snippet: str
    title_terms: frozenset[str]
    snippet_terms: frozenset[str]


@dataclass(frozen=True)
class _Index:
    documents: tuple[_Document, ...]
    # Inverse document frequency: rarer terms are better evidence of relevance.
    idf: dict[str, float]


def search(query: str, limit: int = DEFAULT_RESULTS) -> list[SearchHit]:
    """The best `limit` corpus entries for `query`, best first; ties keep corpus order."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    index = _index()
    terms = _terms(query)
    scored: list[tuple[float, int, _Document]] = []
    for position, document in enumerate(index.documents):
        score = 0.0
        for term in terms:
            weight = index.idf.get(term, 0.0)
            if term in document.title_terms:
                score += _TITLE_WEIGHT * weight
            if term in document.snippet_terms:
                score += _SNIPPET_WEIGHT * weight
        if score > 0:
            scored.append((round(score, 6), position, document))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [SearchHit(d.title, d.url, d.snippet, score) for score, _, d in scored[:limit]]


def format_hits(query: str, hits: list[SearchHit]) -> str:
    """Hits as the numbered plain-text list the LLM reads."""
    if not hits:
        return f'No results found for "{query}".'
    return "\n\n".join(
        f"{number}. {hit.title}\n   {hit.url}\n   {hit.snippet}"
        for number, hit in enumerate(hits, start=1)
    )


def _terms(text: str) -> frozenset[str]:
    terms: set[str] = set()
    for word in _WORD.findall(text.lower()):
        for run in _SCRIPT_RUN.findall(word):
            if _HANGUL.fullmatch(run):
                terms.update(_hangul_terms(run))
            elif run not in _STOPWORDS:
                terms.add(_fold_plural(run))
    return frozenset(terms)


def _hangul_terms(run: str) -> list[str]:
    # Korean attaches particles to words ("워크플로는", "워크플로를"), so whole words rarely
    # match; overlapping character pairs match the shared stem regardless of the ending.
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _fold_plural(word: str) -> str:
    # Crude on purpose: enough that "workflows" finds "workflow", with no stemming library.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@cache
def _index() -> _Index:
    raw: Any = json.loads(
        (files("agentic_loop.tools") / "data" / "search_corpus.json").read_text("utf-8")
    )
    documents = tuple(_document(entry) for entry in raw)
    frequency: dict[str, int] = {}
    for document in documents:
        for term in document.title_terms | document.snippet_terms:
            frequency[term] = frequency.get(term, 0) + 1
    # The +1 keeps a term found in every document slightly positive rather than worthless.
    total = len(documents) + 1
    idf = {term: math.log(total / count) for term, count in frequency.items()}
    return _Index(documents, idf)


def _document(entry: Any) -> _Document:
    if not isinstance(entry, dict) or not all(
        isinstance(entry.get(key), str) for key in ("title", "url", "snippet")
    ):
        raise RuntimeError(f"malformed search corpus entry: {entry!r}")
    title: str = entry["title"]
    url: str = entry["url"]
    snippet: str = entry["snippet"]
    return _Document(title, url, snippet, _terms(title), _terms(snippet))


@tool
def web_search(
    query: str,
    max_results: Annotated[
        int,
        Field(ge=1, le=MAX_RESULTS, description=f"How many results to return (1-{MAX_RESULTS})."),
    ] = DEFAULT_RESULTS,
) -> str:
    """Search the web (in this demo: a small simulated offline index) and return the most
    relevant pages, each with title, URL and snippet. Use short keyword queries.

    Args:
        query: What to search for.
    """
    if not query.strip():
        raise ToolError("the query is empty; say what to search for")
    if len(query) > MAX_QUERY_LENGTH:
        raise ToolError(f"the query is too long (the limit is {MAX_QUERY_LENGTH} characters)")
    query = query.strip()
    return format_hits(query, search(query, max_results))


TOOL = web_search
