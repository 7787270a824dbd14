"""The calculator tool: Python arithmetic semantics, and refusal of anything else."""

from __future__ import annotations

import pytest

from agentic_loop.tools import ToolContext, ToolError
from agentic_loop.tools.calculator import TOOL, CalculatorError, evaluate, format_number

CTX = ToolContext(workflow_id="wf-test", idempotency_key="key-1")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("2 * 3 ** 2", 18),
        ("2 ** 3 ** 2", 512),
        ("10 - 4 - 3", 3),
        ("100 / 10 / 5", 2.0),
        ("1 + 2 * 3 - 4 / 2", 5.0),
    ],
)
def test_precedence_and_associativity_follow_python(expression: str, expected: float) -> None:
    """Operators bind and associate as in Python, including right-associative **."""
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("-2 ** 2", -4), ("(-2) ** 2", 4), ("-3 + 5", 2), ("--3", 3), ("+4", 4), ("-(2 + 3)", -5)],
)
def test_unary_minus_and_plus(expression: str, expected: int) -> None:
    """Unary signs work and bind more loosely than ** but tighter than *, as in Python."""
    assert evaluate(expression) == expected


def test_true_division_returns_float() -> None:
    """'/' is true division, so 7 / 2 is 3.5 rather than 3."""
    assert evaluate("7 / 2") == 3.5


@pytest.mark.parametrize(
    ("expression", "expected"), [("7 // 2", 3), ("-7 // 2", -4), ("7.5 // 2", 3.0)]
)
def test_floor_division_rounds_towards_negative_infinity(expression: str, expected: float) -> None:
    """'//' floors like Python, so -7 // 2 is -4."""
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"), [("7 % 3", 1), ("-7 % 3", 2), ("7.5 % 2", 1.5)]
)
def test_modulo_takes_the_sign_of_the_divisor(expression: str, expected: float) -> None:
    """'%' follows Python, whose result has the sign of the divisor."""
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("2 ** 10", 1024), ("2 ** -1", 0.5), ("4 ** 0.5", 2.0), ("0 ** 0", 1), ("10 ** 999", 10**999)],
)
def test_power(expression: str, expected: float) -> None:
    """'**' handles integer, negative and fractional exponents, exactly for integers."""
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"), [("1e3", 1000.0), (".5", 0.5), ("1_000", 1000), ("2.5e-1", 0.25)]
)
def test_number_literal_forms(expression: str, expected: float) -> None:
    """Exponent notation, leading-dot floats and digit separators are read as numbers."""
    assert evaluate(expression) == expected


def test_surrounding_whitespace_is_ignored() -> None:
    """Leading spaces, which Python's parser would call an indent, are accepted."""
    assert evaluate("   1 + 1  ") == 2


@pytest.mark.parametrize("expression", ["1 / 0", "1 // 0", "1 % 0", "1.0 / 0.0", "0 ** -1"])
def test_division_by_zero_is_refused(expression: str) -> None:
    """Every form of division by zero is a refusal saying so."""
    with pytest.raises(CalculatorError, match="division by zero"):
        evaluate(expression)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("x", "names"),
        ("x + 1", "names"),
        ("__import__", "names"),
        ("__import__('os')", "function calls"),
        ("__import__('os').system('x')", "function calls"),
        ("abs(-1)", "function calls"),
        ("(1).real", "attribute"),
        ("().__class__", "attribute"),
        ("lambda: 1", "lambda"),
        ("'a'", "strings"),
        ("'9' * 10 ** 6", "strings"),
        ("f'{1}'", "strings"),
        ("b'1'", "strings"),
        ("[x for x in (1, 2)]", "comprehensions"),
        ("(x for x in (1,))", "comprehensions"),
        ("[1][0]", "indexing"),
        ("1 < 2", "comparisons"),
        ("1 if 1 else 2", "conditional"),
        ("(y := 1)", "assignments"),
        ("1, 2", "tuples"),
        ("True + 1", "booleans"),
        ("None", "not a number"),
        ("1j", "complex"),
        ("1 and 2", "logical"),
        ("not 1", "logical"),
    ],
)
def test_anything_but_arithmetic_is_refused(expression: str, reason: str) -> None:
    """Names, calls, attributes, strings and other Python constructs are refused by kind."""
    with pytest.raises(CalculatorError, match=reason):
        evaluate(expression)


@pytest.mark.parametrize("expression", ["1 << 3", "8 >> 1", "1 << 10 ** 6"])
def test_shifts_are_refused(expression: str) -> None:
    """Bit shifts are refused, so 1 << 10**6 never builds a million-bit integer."""
    with pytest.raises(CalculatorError, match="shifts"):
        evaluate(expression)


@pytest.mark.parametrize("expression", ["6 & 3", "6 | 3", "~1"])
def test_bitwise_operators_are_refused(expression: str) -> None:
    """Bitwise operators are not arithmetic and are refused."""
    with pytest.raises(CalculatorError, match="bitwise"):
        evaluate(expression)


def test_xor_refusal_suggests_power() -> None:
    """'^' is refused with a hint to use '**', the usual intent of writing 2^3."""
    with pytest.raises(CalculatorError, match=r"use \*\* for powers"):
        evaluate("2 ^ 3")


@pytest.mark.parametrize("expression", ["", "   ", "\n"])
def test_empty_input_is_refused(expression: str) -> None:
    """An empty or blank expression is a refusal, not a crash."""
    with pytest.raises(CalculatorError, match="empty"):
        evaluate(expression)


@pytest.mark.parametrize("expression", ["1 +", "2 3", "(1", "1)", "*2", "1 +* 2", "1\x00"])
def test_syntax_errors_are_refused_with_the_problem(expression: str) -> None:
    """Malformed input is refused as not a valid arithmetic expression."""
    with pytest.raises(CalculatorError, match=r"not a valid arithmetic expression: .+"):
        evaluate(expression)


def test_non_string_input_is_refused() -> None:
    """Only text is evaluated; other types are refused rather than misread."""
    with pytest.raises(CalculatorError, match="string"):
        evaluate(12)  # type: ignore[arg-type]


def test_calculator_error_is_a_tool_error() -> None:
    """Refusals reach the LLM because CalculatorError is a ToolError."""
    assert issubclass(CalculatorError, ToolError)


@pytest.mark.parametrize(
    "expression", ["9**9**9", "10**10**10", "9**999999", "2**3322", "7**10**100"]
)
def test_huge_powers_are_refused_before_computing(expression: str) -> None:
    """Powers whose result would exceed 1000 digits are refused by estimate, not computed."""
    with pytest.raises(CalculatorError, match="more than 1000 digits"):
        evaluate(expression)


@pytest.mark.parametrize(
    "expression", ["10**999 * 10", "10**999 * 10**999", "-(10**999) - 9 * 10**999"]
)
def test_huge_integer_results_of_any_operation_are_refused(expression: str) -> None:
    """An integer of more than 1000 digits is refused whichever operation produced it."""
    with pytest.raises(CalculatorError, match="more than 1000 digits"):
        evaluate(expression)


def test_digit_limit_is_exact() -> None:
    """A 1000-digit result is allowed and the smallest 1001-digit one is not."""
    assert len(str(evaluate("10**999 * 9"))) == 1000
    with pytest.raises(CalculatorError, match="more than 1000 digits"):
        evaluate("10**1000")


def test_ten_thousand_nested_parentheses_are_refused() -> None:
    """Deep nesting that would break Python's parser is refused before parsing."""
    with pytest.raises(CalculatorError):
        evaluate("(" * 10_000 + "1" + ")" * 10_000)


def test_nesting_beyond_the_limit_is_refused() -> None:
    """51 levels of parentheses are refused by the nesting check, not the length check."""
    with pytest.raises(CalculatorError, match="nested too deeply"):
        evaluate("(" * 51 + "1" + ")" * 51)


def test_nesting_at_the_limit_is_allowed() -> None:
    """50 levels of parentheses are still evaluated."""
    assert evaluate("(" * 50 + "1" + ")" * 50) == 1


def test_one_megabyte_input_is_refused() -> None:
    """Input over 500 characters is refused by length, whatever it contains."""
    with pytest.raises(CalculatorError, match="too long"):
        evaluate("9" * 1_000_000)


def test_length_limit_is_500_characters() -> None:
    """Exactly 500 characters are accepted and 501 are not."""
    assert evaluate("1" + " " * 497 + "+1") == 2
    with pytest.raises(CalculatorError, match="too long"):
        evaluate("1" + " " * 498 + "+1")


@pytest.mark.parametrize(
    "expression", ["1e308 * 10", "1e308 + 1e308", "10.0 ** 400", "1.5 ** 10**300"]
)
def test_float_overflow_is_refused(expression: str) -> None:
    """Float results that overflow, silently to inf or with OverflowError, are refused."""
    with pytest.raises(CalculatorError, match="too large"):
        evaluate(expression)


def test_infinite_float_literal_is_refused() -> None:
    """A literal like 1e400, which Python reads as inf, is refused."""
    with pytest.raises(CalculatorError, match="too large"):
        evaluate("1e400")


def test_big_integer_in_float_arithmetic_is_refused() -> None:
    """An integer too large for a float cannot silently break true division."""
    with pytest.raises(CalculatorError, match="too large"):
        evaluate("10**999 / 3")


def test_complex_result_is_refused() -> None:
    """A negative base with a fractional exponent, complex in Python, is refused."""
    with pytest.raises(CalculatorError, match="not a real number"):
        evaluate("(-8) ** (1/3)")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5, "5"),
        (-12, "-12"),
        (10**30, "1" + "0" * 30),
        (5.0, "5"),
        (-0.0, "0"),
        (3.5, "3.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123456789012345.0, "123456789012345"),
        (1e15, "1000000000000000.0"),
        (1e20, "1e+20"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    """Integral floats below 1e15 lose their '.0'; other floats print as repr, ints as-is."""
    assert format_number(value) == text


async def test_tool_returns_formatted_result() -> None:
    """The tool's output is the formatted value, so 20 / 4 reads as 5."""
    assert await TOOL.run({"expression": "20 / 4"}, CTX) == "5"


async def test_tool_refuses_with_calculator_error() -> None:
    """The tool surfaces refusals as CalculatorError for the registry to report."""
    with pytest.raises(CalculatorError, match="names"):
        await TOOL.run({"expression": "x"}, CTX)


def test_tool_schema() -> None:
    """The tool takes exactly one required string argument, 'expression'."""
    assert TOOL.name == "calculator"
    assert TOOL.parameters["properties"]["expression"]["type"] == "string"
    assert TOOL.parameters["required"] == ["expression"]
    assert TOOL.parameters["additionalProperties"] is False
