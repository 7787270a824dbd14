"""RuleBasedLLM: the offline planner behind `agentic-loop run` when no API key is set.

Its rules: arithmetic in the request -> one calculator call; a search request -> one
web_search call (both in one turn when both are asked); after the tools answered, a final
answer built from their results, in the request's language. Same input, same output.
"""

from __future__ import annotations

import json
import re

from agentic_loop.llm.base import CompletionRequest
from agentic_loop.types import LLMTurn, Message, ToolCall, Usage

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Runs of digits, operators, parentheses and spaces; the best one becomes the expression.
_ARITHMETIC_RUN = re.compile(r"[\d.\s()+\-*/%×÷^]+")
_OPERATOR_BETWEEN = re.compile(r"[\d)]\s*(\*\*|//|[+\-*/%^×÷])\s*[-(\d.]")
_SIMPLE_BINARY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([+\-*/])\s*(-?\d+(?:\.\d+)?)\s*$")

_SEARCH_EN = re.compile(
    r"\b(?:search(?:\s+the\s+web)?(?:\s+for)?|look\s+up|google|find\s+(?:information\s+)?"
    r"(?:about|on))\s+(?P<q>.+?)(?=[.?!;]|,|\s+and\s+(?:then\s+)?"
    r"(?:calculate|compute|write|summari[sz]e|explain|tell)\b|$)",
    re.IGNORECASE,
)
_SEARCH_KO = re.compile(
    r"(?P<q>[^,.?!]+?)\s*(?:을|를|에\s*대해(?:서)?|에\s*대한\s*(?:정보를?)?)?\s*"
    r"(?:검색|찾아)"
)


def is_korean(text: str) -> bool:
    return bool(_HANGUL.search(text))


def find_expression(text: str) -> str | None:
    """The longest arithmetic expression in free text, normalised for the calculator."""
    best: str | None = None
    for match in _ARITHMETIC_RUN.finditer(text):
        candidate = match.group().strip()
        candidate = _balance(candidate.strip(". "))
        if not _OPERATOR_BETWEEN.search(candidate):
            continue
        if best is None or len(candidate) > len(best):
            best = candidate
    if best is None:
        return None
    return best.replace("×", "*").replace("÷", "/").replace("^", "**")


def _balance(expr: str) -> str:
    """Drop unmatched parentheses at the edges, left by the text around an expression."""
    while expr.startswith(")"):
        expr = expr[1:].lstrip()
    while expr.endswith("(") or (expr.endswith(")") and expr.count(")") > expr.count("(")):
        expr = expr[:-1].rstrip()
    while expr.startswith("(") and expr.count("(") > expr.count(")"):
        expr = expr[1:].lstrip()
    return expr


_FOLLOW_UP_EN = re.compile(
    r"^\W*(?:and\s+|then\s+)?(?:what\s+about\s+|now\s+)?(?P<op>plus|minus|times|"
    r"multiplied\s+by|divided\s+by|over|[+\-*/x×÷])\s*(?P<n>-?\d+(?:\.\d+)?)",
    re.IGNORECASE,
)
_FOLLOW_UP_KO = re.compile(
    r"(?P<n>-?\d+(?:\.\d+)?)\s*(?:을|를|으로|로)?\s*(?P<op>더|빼|곱|나누|나눠)"
)
_FOLLOW_UP_OPS = {
    "plus": "+", "minus": "-", "times": "*", "multiplied by": "*", "divided by": "/",
    "over": "/", "x": "*", "×": "*", "÷": "/", "더": "+", "빼": "-", "곱": "*", "나누": "/",
    "나눠": "/",
}  # fmt: skip


def find_follow_up(text: str, previous: str) -> str | None:
    """ "and plus 16?" after a result of 84 becomes "84 + 16"."""
    for pattern in (_FOLLOW_UP_EN, _FOLLOW_UP_KO):
        match = pattern.search(text)
        if match:
            op = " ".join(match.group("op").lower().split())
            return f"{previous} {_FOLLOW_UP_OPS.get(op, op)} {match.group('n')}"
    return None


def _last_result(messages: list[Message]) -> str | None:
    for message in reversed(messages):
        if message.role == "tool" and message.name == "calculator" and not message.is_error:
            return message.content
    return None


def find_search_query(text: str) -> str | None:
    for pattern in (_SEARCH_EN, _SEARCH_KO):
        match = pattern.search(text)
        if match:
            query = match.group("q").strip(" \"'“”‘’")
            query = re.sub(r"^(?:the\s+web\s+for|for)\s+", "", query, flags=re.IGNORECASE)
            if query:
                return query
    return None


# Korean particles depend on whether the reading of a number ends in a consonant (batchim).
# Sino-Korean readings of the last digit: 영 일 이 삼 사 오 육 칠 팔 구.
_DIGIT_BATCHIM = {
    "0": True,
    "1": True,
    "2": False,
    "3": True,
    "4": False,
    "5": False,
    "6": True,
    "7": True,
    "8": True,
    "9": False,
}


def _batchim(number: str) -> bool:
    digits = number.rstrip().lstrip("-")
    if not digits or not digits[-1].isdigit():
        return True
    if "." not in digits and digits != "0":
        stripped = digits.rstrip("0")
        zeros = len(digits) - len(stripped)
        if zeros:
            # 십 (10), 백 (100), 천 (1000), 만 (10000): all end in a consonant.
            return True
    return _DIGIT_BATCHIM[digits[-1]]


def _josa(word: str, with_batchim: str, without: str) -> str:
    return word + (with_batchim if _batchim(word) else without)


_EN_VERBS = {
    "+": "Adding {b} to {a}",
    "-": "Subtracting {b} from {a}",
    "*": "Multiplying {a} by {b}",
    "/": "Dividing {a} by {b}",
}


def _number_fact(value: str, korean: bool) -> str:
    try:
        n = int(value)
    except ValueError:
        return ""
    parity = (
        ("짝수" if korean else "an even number")
        if n % 2 == 0
        else ("홀수" if korean else "an odd number")
    )
    prime = n > 1 and all(n % d for d in range(2, int(n**0.5) + 1)) if abs(n) < 10**8 else False
    if korean:
        fact = f"{_josa(value, '은', '는')} {parity}"
        return fact + (" 이며 소수입니다." if prime else "입니다.")
    return f"{value} is {parity}" + (" and a prime." if prime else ".")


def _ro(word: str) -> str:
    # (으)로: "로" after a vowel or ㄹ (1, 7, 8 read 일, 칠, 팔), "으로" after other consonants.
    last = word.lstrip("-")[-1:]
    return word + ("로" if not _batchim(word) or last in "178" else "으로")


def _korean_steps(a: str, op: str, b: str, value: str) -> str:
    result = _josa(value, "이", "가")
    if op == "+":
        return f"{a}에 {_josa(b, '을', '를')} 더하면 {result} 됩니다."
    if op == "-":
        return f"{a}에서 {_josa(b, '을', '를')} 빼면 {result} 됩니다."
    if op == "*":
        return f"{a}에 {_josa(b, '을', '를')} 곱하면 {result} 됩니다."
    return f"{_josa(a, '을', '를')} {_ro(b)} 나누면 {result} 됩니다."


def _explain_calculation(expr: str, value: str, korean: bool) -> str:
    simple = _SIMPLE_BINARY.match(expr)
    if korean:
        parts = [f"{expr} = {value}입니다."]
        if simple:
            a, op, b = simple.groups()
            parts.append(_korean_steps(a, op, b, value))
    else:
        parts = [f"{expr} = {value}."]
        if simple:
            a, op, b = simple.groups()
            parts.append(f"{_EN_VERBS[op].format(a=a, b=b)} gives {value}.")
    parts.append(_number_fact(value, korean))
    return " ".join(p for p in parts if p)


def _search_summary(query: str, content: str, korean: bool) -> str:
    if korean and content.startswith("No results found for"):
        return f'"{query}"에 대한 검색 결과가 없습니다.'
    header = f'"{query}" 검색 결과입니다:' if korean else f'Here is what I found for "{query}":'
    return f"{header}\n{content}"


# The workflow's words for a call that did not run (workflow/agent.py) and the calculator's for
# its commonest refusal; a Korean answer says them in Korean.
_REJECTED = "the call was rejected"
_UNAVAILABLE = "the tool is unavailable: "
# Transcripts carried from older runs say ", so it counts as rejected" after it.
_TIMED_OUT = re.compile(r"no decision within ([\d.]+) s(?:, so it counts as rejected)?")


def _refusal(name: str | None, content: str, korean: bool) -> str:
    """Why a tool gave no result, in the request's language. Korean keeps a person's own
    reason for a rejection (their words, quoted); the tools' English reasons become a Korean
    sentence, and the steps shown by the command still carry them as they were."""
    rejected = content.startswith(_REJECTED)
    reason = content[len(_REJECTED) :].strip().removeprefix(":").strip() if rejected else ""
    if reason == "(no reason given)":
        reason = ""
    timed_out = _TIMED_OUT.fullmatch(reason)
    if not korean:
        if not rejected:
            return f"The {name} tool refused: {content}"
        if timed_out:
            return f"The {name} call did not run: nobody approved it within {timed_out[1]} s."
        why = f' You said: "{reason}".' if reason else ""
        return f"The {name} call did not run, because you rejected it.{why}"
    if rejected:
        if timed_out:
            return (
                f"{name} 호출은 {timed_out[1]}초 안에 승인되지 않아 거절된 것으로 처리되었습니다."
            )
        said = f' 거절 사유: "{reason}".' if reason else ""
        return f"{name} 호출이 승인되지 않아 실행하지 않았습니다.{said}"
    if content.startswith(_UNAVAILABLE):
        return f"{name} 도구를 지금 사용할 수 없어 결과를 얻지 못했습니다."
    if content.startswith("division by zero"):
        return f"{name} 도구가 계산을 거절했습니다: 0으로 나눌 수 없습니다."
    return f"{name} 도구가 요청을 처리하지 못했습니다."


def _arguments_of(result: Message, messages: list[Message]) -> dict[str, str]:
    """The arguments of the call a tool result answers, from the assistant message that made it."""
    for message in messages:
        for call in message.tool_calls:
            if call.id == result.tool_call_id:
                try:
                    args = json.loads(call.arguments)
                except json.JSONDecodeError:
                    return {}
                return args if isinstance(args, dict) else {}
    return {}


class RuleBasedLLM:
    """A deterministic planner that needs no network and no key."""

    @property
    def name(self) -> str:
        return "fake"

    @property
    def default_model(self) -> str:
        return "rule-based"

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        messages = request.messages
        user_index = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        if user_index < 0:
            return self._turn(request, content="There is no request to answer.")
        goal = messages[user_index].content
        after = messages[user_index + 1 :]
        korean = is_korean(goal)
        offered = {t.get("function", {}).get("name") for t in request.tools}
        if not any(m.role == "assistant" for m in after):
            previous = _last_result(messages[:user_index])
            calls = self._plan(
                goal, offered, turn=sum(m.role == "assistant" for m in messages), previous=previous
            )
            if calls:
                return self._turn(request, tool_calls=calls)
            return self._turn(request, content=self._cannot_help(goal, korean))
        results = [m for m in after if m.role == "tool"]
        return self._turn(request, content=self._answer(results, messages, korean))

    def _plan(
        self, goal: str, offered: set[str | None], turn: int, previous: str | None = None
    ) -> list[ToolCall]:
        calls: list[ToolCall] = []
        follow_up = find_follow_up(goal, previous) if previous is not None else None
        expression = follow_up or find_expression(goal)
        if expression and "calculator" in offered:
            calls.append(self._call(turn, len(calls), "calculator", {"expression": expression}))
        query = find_search_query(goal)
        if query and "web_search" in offered:
            calls.append(self._call(turn, len(calls), "web_search", {"query": query}))
        return calls

    @staticmethod
    def _call(turn: int, index: int, name: str, args: dict[str, str]) -> ToolCall:
        return ToolCall(
            id=f"call_{turn + 1}_{index + 1}",
            name=name,
            arguments=json.dumps(args, ensure_ascii=False),
        )

    def _answer(self, results: list[Message], messages: list[Message], korean: bool) -> str:
        parts: list[str] = []
        for result in results:
            args = _arguments_of(result, messages)
            if result.is_error:
                parts.append(_refusal(result.name, result.content, korean))
            elif result.name == "calculator":
                parts.append(
                    _explain_calculation(args.get("expression", "?"), result.content, korean)
                )
            elif result.name == "web_search":
                parts.append(_search_summary(args.get("query", ""), result.content, korean))
            elif korean:
                parts.append(f"{result.name} 도구의 결과입니다:\n{result.content}")
            else:
                parts.append(f"{result.name}: {result.content}")
        return "\n\n".join(parts)

    def _cannot_help(self, goal: str, korean: bool) -> str:
        if korean:
            return (
                '이 오프라인 데모 모델은 계산(예: "12 * 7을 계산해줘")과 내장 문서 검색'
                '(예: "Temporal 재시도를 검색해줘")만 할 수 있습니다. '
                "실제 모델을 쓰려면 OPENAI_API_KEY를 설정하세요."
            )
        return (
            'This offline demo model can only do arithmetic (e.g. "What is 12 * 7?") and '
            'search a small built-in corpus (e.g. "Search for Temporal retries"). '
            "Set OPENAI_API_KEY to use a real model."
        )

    def _turn(
        self,
        request: CompletionRequest,
        *,
        content: str = "",
        tool_calls: list[ToolCall] | None = None,
    ) -> LLMTurn:
        prompt = sum(len(m.content) for m in request.messages) // 4
        completion = (len(content) + sum(len(c.arguments) for c in tool_calls or [])) // 4
        return LLMTurn(
            content=content,
            tool_calls=tool_calls or [],
            finish_reason="tool_calls" if tool_calls else "stop",
            usage=Usage(prompt, completion, prompt + completion),
            model=request.model or self.default_model,
        )
