"""The simulated web search: relevant, deterministic results over the bundled corpus."""

from __future__ import annotations

import pytest

from agentic_loop.tools import ToolContext, ToolError
from agentic_loop.tools.web_search import TOOL, SearchHit, format_hits, search

CTX = ToolContext(workflow_id="wf-test", idempotency_key="key-1")


def test_typescript_best_practices_returns_typescript_entries_first() -> None:
    """The demo's query puts TypeScript best-practice pages at the top."""
    hits = search("TypeScript best practices", limit=3)
    assert len(hits) == 3
    for hit in hits:
        assert "TypeScript" in hit.title
        assert "Best Practices" in hit.title


@pytest.mark.parametrize(
    ("query", "expected_in_top_title"),
    [
        ("Temporal workflows", "Workflow"),
        ("Temporal activity retries", "Retr"),
        ("event history replay", "Event History"),
        ("signals and queries", "Signals, Queries"),
        ("continue-as-new", "Continue-As-New"),
        ("workflow versioning patching", "Patching"),
        ("durable execution", "Durable Execution"),
        ("LLM agent loop", "Agent Loop"),
        ("ReAct reasoning acting", "ReAct"),
        ("OpenAI function calling", "Function Calling"),
        ("python asyncio tasks", "asyncio"),
    ],
)
def test_topic_queries_find_a_relevant_entry_first(query: str, expected_in_top_title: str) -> None:
    """Queries on each corpus topic rank an entry about that topic first."""
    hits = search(query)
    assert hits, f"no hits for {query!r}"
    assert expected_in_top_title in hits[0].title


def test_plural_query_matches_singular_text() -> None:
    """'retries' finds the entry titled 'Retry Policies', thanks to plural folding."""
    assert search("retries")[0].title == "Retry Policies in Temporal"


def test_title_matches_outrank_snippet_matches() -> None:
    """A term in an entry's title outweighs the same term in an earlier entry's snippet."""
    titles = [hit.title for hit in search("deterministic", limit=10)]
    assert titles[0] == "Temporal Activities: Doing the Non-Deterministic Work"
    # Earlier in corpus order, so only the title weight can put it second.
    assert "What Is a Temporal Workflow?" in titles[1:]


def test_same_query_gives_same_results() -> None:
    """Search is deterministic: repeating a query repeats titles, order and scores."""
    assert search("Temporal durable agent", limit=10) == search("Temporal durable agent", limit=10)


def test_ties_keep_corpus_order() -> None:
    """Equal scores are broken by corpus order, so the ranking never depends on hashing."""
    hits = search("TypeScript best practices", limit=3)
    assert hits[0].score == hits[1].score == hits[2].score
    assert [h.url for h in hits] == [
        "https://typescript.example.com/guides/best-practices/strict-mode",
        "https://typescript.example.com/guides/best-practices/types",
        "https://blog.example.com/2024/typescript-best-practices-large-codebases",
    ]


def test_scores_are_positive_and_descending() -> None:
    """Every hit scores above zero and results are sorted best first."""
    hits = search("Temporal workflow", limit=10)
    scores = [hit.score for hit in hits]
    assert all(score > 0 for score in scores)
    assert scores == sorted(scores, reverse=True)


def test_case_does_not_matter() -> None:
    """Matching is case-insensitive."""
    assert search("TEMPORAL WORKFLOW") == search("temporal workflow")


def test_unknown_words_find_nothing() -> None:
    """A query with no corpus term returns no hits at all."""
    assert search("xyzzy plugh") == []


def test_stopwords_alone_find_nothing() -> None:
    """A query of only common words does not match every page."""
    assert search("what is the") == []


@pytest.mark.parametrize(
    "query", ["Temporal 워크플로", "워크플로는 어떻게 재시도하나요", "에이전트 루프"]
)
def test_korean_query_hits_a_korean_entry(query: str) -> None:
    """Korean queries reach Korean entries, even with different particles attached."""
    hits = search(query)
    assert hits
    assert any("\uac00" <= char <= "\ud7a3" for char in hits[0].title)


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_limit_is_respected(limit: int) -> None:
    """No more than `limit` hits come back even when more entries match."""
    assert len(search("Temporal", limit=limit)) == limit


def test_zero_limit_is_rejected() -> None:
    """Asking for no results is a programming error, not an empty answer."""
    with pytest.raises(ValueError, match="limit"):
        search("Temporal", limit=0)


def test_format_hits_numbered_list() -> None:
    """Hits read as a numbered list of title, indented URL and snippet, blank-line separated."""
    hits = [SearchHit("A", "https://a.example", "first", 2.0), SearchHit("B", "u", "second", 1.0)]
    assert format_hits("q", hits) == (
        "1. A\n   https://a.example\n   first\n\n2. B\n   u\n   second"
    )


async def test_tool_output_lists_hits() -> None:
    """The tool returns the formatted top hits, three by default."""
    output = await TOOL.run({"query": "TypeScript best practices"}, CTX)
    assert output == format_hits("TypeScript best practices", search("TypeScript best practices"))
    assert output.startswith("1. TypeScript Best Practices")
    assert "\n\n3. " in output
    assert "\n\n4. " not in output


async def test_tool_honours_max_results() -> None:
    """max_results sets how many hits the tool returns."""
    output = await TOOL.run({"query": "Temporal", "max_results": 5}, CTX)
    assert "\n\n5. " in output
    assert "\n\n6. " not in output


async def test_tool_says_when_nothing_matches() -> None:
    """No hits is an ordinary answer saying so, not an error."""
    assert await TOOL.run({"query": "xyzzy"}, CTX) == 'No results found for "xyzzy".'


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
async def test_tool_refuses_empty_query(query: str) -> None:
    """An empty or blank query is refused so the model supplies one."""
    with pytest.raises(ToolError, match="empty"):
        await TOOL.run({"query": query}, CTX)


async def test_tool_refuses_overlong_query() -> None:
    """A query longer than the limit is refused instead of being scanned."""
    with pytest.raises(ToolError, match="too long"):
        await TOOL.run({"query": "a" * 501}, CTX)


@pytest.mark.parametrize("max_results", [0, -1, 11, 100, True, 2.5])
async def test_tool_refuses_bad_max_results(max_results: object) -> None:
    """max_results outside 1-10, or not an integer, is refused."""
    with pytest.raises(ToolError, match="max_results"):
        await TOOL.run({"query": "Temporal", "max_results": max_results}, CTX)


def test_tool_schema() -> None:
    """The schema requires a string query and allows an optional bounded integer max_results."""
    assert TOOL.name == "web_search"
    params = TOOL.parameters
    assert params["required"] == ["query"]
    assert params["additionalProperties"] is False
    assert params["properties"]["query"]["type"] == "string"
    assert params["properties"]["max_results"]["type"] == "integer"
    assert (
        params["properties"]["max_results"]["minimum"],
        params["properties"]["max_results"]["maximum"],
    ) == (1, 10)
