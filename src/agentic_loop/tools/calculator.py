"""Arithmetic for the LLM, without ever evaluating Python.

The expression is parsed with `ast` and walked against an allow-list; every operation is
bounded before it runs, so a hostile expression is refused instead of eating the worker.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from agentic_loop.tools.base import ToolError
from agentic_loop.tools.decorator import tool

MAX_LENGTH = 500
MAX_NESTING = 50
MAX_DIGITS = 1000

Number = int | float

# Exclusive bound: an integer this large or larger has more than MAX_DIGITS digits.
_INT_LIMIT = 10**MAX_DIGITS

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}

_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}

_REFUSED_OPERATORS: dict[type[ast.AST], str] = {
    ast.BitXor: "'^' is bitwise XOR, which is not supported; use ** for powers",
    ast.LShift: "bit shifts (<< and >>) are not supported",
    ast.RShift: "bit shifts (<< and >>) are not supported",
    ast.BitAnd: "bitwise operators (& | ^ ~) are not supported",
    ast.BitOr: "bitwise operators (& | ^ ~) are not supported",
    ast.Invert: "bitwise operators (& | ^ ~) are not supported",
    ast.MatMult: "the @ operator is not supported",
    ast.Not: "logical operators (and, or, not) are not supported",
}

_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Call: "function calls are not allowed",
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "indexing and slicing are not allowed",
    ast.Compare: "comparisons are not supported",
    ast.BoolOp: "logical operators (and, or, not) are not supported",
    ast.Lambda: "lambda expressions are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.NamedExpr: "assignments are not allowed",
    ast.Tuple: "tuples (commas) are not allowed",
    ast.List: "lists are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dictionaries are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "strings are not allowed",
}

_ALLOWED_SUMMARY = "only numbers, + - * / // % **, unary minus and parentheses are allowed"


class CalculatorError(ToolError):
    """The expression was refused; the message says why in terms the LLM can act on."""


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression, with Python's precedence and semantics."""
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be a string")
    # The length check comes first: everything after it may then scan the text freely.
    if len(expression) > MAX_LENGTH:
        raise CalculatorError(
            f"expression is too long ({len(expression)} characters; the limit is {MAX_LENGTH})"
        )
    text = expression.strip()
    if not text:
        raise CalculatorError("the expression is empty")
    _check_nesting(text)
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError) as e:
        reason = e.msg if isinstance(e, SyntaxError) else str(e)
        raise CalculatorError(f"not a valid arithmetic expression: {reason}") from None
    except (RecursionError, MemoryError):
        raise CalculatorError("the expression is nested too deeply") from None
    # Validate the whole tree before computing anything, so that `9**9**9 + x` is refused for
    # the name rather than after an expensive computation.
    for node in ast.walk(tree):
        _check_node(node)
    try:
        return _evaluate(tree.body)
    except RecursionError:
        raise CalculatorError("the expression is nested too deeply") from None


def format_number(value: Number) -> str:
    """How a result is shown: integral floats of sensible size lose their '.0'."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _check_nesting(text: str) -> None:
    # Done on the raw text because CPython's parser itself fails (or crashes, on older
    # versions) on very deep nesting, before any AST exists to inspect.
    depth = 0
    for char in text:
        if char in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise CalculatorError(
                    f"parentheses are nested too deeply (the limit is {MAX_NESTING} levels)"
                )
        elif char in ")]}":
            depth -= 1


def _check_node(node: ast.AST) -> None:
    kind = type(node)
    if kind in _REFUSED_OPERATORS:
        raise CalculatorError(_REFUSED_OPERATORS[kind])
    if kind in _REFUSED_NODES:
        raise CalculatorError(f"{_REFUSED_NODES[kind]}; {_ALLOWED_SUMMARY}")
    if isinstance(node, ast.Name):
        raise CalculatorError(f"names such as {node.id!r} are not allowed; {_ALLOWED_SUMMARY}")
    if isinstance(node, ast.Constant):
        _check_constant(node.value)
        return
    if isinstance(node, ast.Expression | ast.BinOp | ast.UnaryOp) or kind in _BINARY:
        return
    if kind in _UNARY:
        return
    raise CalculatorError(f"{kind.__name__} is not allowed; {_ALLOWED_SUMMARY}")


def _check_constant(value: object) -> None:
    # bool is a subclass of int, so exact type checks are needed.
    if type(value) is int:
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise CalculatorError("number literal is too large for a floating-point number")
        return
    if type(value) is bool:
        raise CalculatorError(f"booleans are not numbers here; {_ALLOWED_SUMMARY}")
    if type(value) is complex:
        raise CalculatorError("complex numbers are not supported")
    if isinstance(value, str | bytes):
        raise CalculatorError(f"strings are not allowed; {_ALLOWED_SUMMARY}")
    raise CalculatorError(f"{value!r} is not a number; {_ALLOWED_SUMMARY}")


def _evaluate(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        return _checked(node.value)
    if isinstance(node, ast.UnaryOp):
        return _checked(_UNARY[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.BinOp):
        left = _evaluate(node.left)
        right = _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise CalculatorError("division by zero") from None
        except OverflowError:
            # Raised when an int too big for a float meets float arithmetic (10**999 / 3).
            raise CalculatorError("a number is too large for floating-point arithmetic") from None
        return _checked(result)
    # Unreachable after _check_node; kept so a gap in the allow-list fails closed.
    raise CalculatorError(f"{type(node).__name__} is not allowed; {_ALLOWED_SUMMARY}")


def _check_power(base: Number, exponent: Number) -> None:
    if base == 0 and exponent < 0:
        raise CalculatorError("division by zero: 0 cannot be raised to a negative power")
    # Float powers overflow with an OverflowError on their own; only exact integer powers can
    # silently grow huge, so estimate their size before computing them.
    if not (isinstance(base, int) and isinstance(exponent, int)):
        return
    if exponent <= 0 or abs(base) <= 1:
        return
    try:
        digits = exponent * math.log10(abs(base))
    except OverflowError:
        digits = math.inf
    # The estimate is one short of the true digit count; the exact check in _checked decides
    # the borderline cases, this one only avoids computing hopeless ones.
    if digits > MAX_DIGITS + 1:
        raise CalculatorError(_too_many_digits())


def _checked(value: Any) -> Number:
    if isinstance(value, complex):
        raise CalculatorError(
            "the result is not a real number (a negative base with a fractional exponent)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            raise CalculatorError("the result is not a number (NaN)")
        raise CalculatorError("the result is too large for a floating-point number")
    # bit_length is a cheap first filter; the exact comparison only runs near the limit.
    if (
        isinstance(value, int)
        and value.bit_length() >= _INT_LIMIT.bit_length()
        and abs(value) >= _INT_LIMIT
    ):
        raise CalculatorError(_too_many_digits())
    result: Number = value
    return result


def _too_many_digits() -> str:
    return f"the result is too large (more than {MAX_DIGITS} digits)"


@tool(
    pure=True,
    description=(
        "Evaluate an arithmetic expression exactly and return the number. Supports + - * / "
        "// % ** (power), unary minus and parentheses, with Python's precedence: "
        "'/' is true division, '//' floor division. Integers are exact up to "
        f"{MAX_DIGITS} digits. No variables or functions."
    ),
)
def calculator(expression: str) -> str:
    """The calculator tool; its description is given above, where it can quote MAX_DIGITS.

    Args:
        expression: The expression, e.g. '(17 + 3) * 2 ** 10 / 4'.
    """
    return format_number(evaluate(expression))


TOOL = calculator
