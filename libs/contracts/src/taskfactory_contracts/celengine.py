"""The bounded CEL engine behind :mod:`taskfactory_contracts.expressions`.

cel-python evaluates by walking the parse tree recursively and maps CEL operators onto Python
ones, so left alone an expression from a definition file (or a value from an event) could
exhaust the process: ``'%01000000000d' % 1`` is Python printf and allocates a gigabyte, a
deeply nested expression raises ``RecursionError``, a nested macro over a large list runs for
minutes, an integer ≥ 2^63 in event data raises ``ValueError`` while converting. This module
keeps every one of those inside a budget, using cel-python's own seams (an ``Activation``'s
function table overrides operators, ``Evaluator.sub_evaluator`` builds the macro evaluators)
and turns every failure into :class:`ExpressionError`.

The budget counts *steps* (parse-tree nodes visited) and *built size* (characters, bytes or
items that ``+`` concatenates), never wall-clock time: evaluation also runs inside Temporal
workflows, where it must be a pure, deterministic function of the expression and variables —
the same event must pass or fail the budget on every worker and on every replay.
"""

from __future__ import annotations

import datetime as _dt
import functools
import operator
from collections.abc import Callable, Mapping
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import Activation, CELEvalError, Evaluator

from taskfactory_contracts.errors import ExpressionError

__all__ = [
    "MAX_BUILT_SIZE",
    "MAX_EXPRESSION_CHARS",
    "MAX_EXPRESSION_DEPTH",
    "MAX_RESULT_ITEMS",
    "MAX_STEPS",
    "MAX_VALUE_DEPTH",
    "RAW_FUNCTION",
    "compile_expression",
    "from_cel",
    "run",
    "to_cel",
]

#: Longest expression source accepted (characters).
MAX_EXPRESSION_CHARS = 4096
#: Deepest parse tree accepted. Each ``( … )`` level adds about 10 tree levels and the
#: evaluator uses about 2 Python frames per level, so 250 keeps well clear of Python's
#: recursion limit (1000) even inside a workflow's call stack, and still allows ~20 levels of
#: parentheses — far more than any readable expression.
MAX_EXPRESSION_DEPTH = 250
#: Parse-tree nodes one evaluation may visit (macros visit their body once per item, about
#: 17 to 25 nodes for a simple predicate). cel-python spends 10 to 40 µs a node, so this
#: bounds one evaluation to well under a second of CPU; a filter over 1 000 items fits.
MAX_STEPS = 25_000
#: Characters, bytes or list items that ``+`` may build in one evaluation.
MAX_BUILT_SIZE = 1_000_000
#: Values and list items one result may hold when converted back to JSON.
MAX_RESULT_ITEMS = 100_000
#: Deepest variable value (event data, context, outputs) an expression may be given.
MAX_VALUE_DEPTH = 100
#: CEL function marking a value as trusted in a URL (identity everywhere else).
RAW_FUNCTION = "raw"
_INT64 = (-(2**63), 2**63 - 1)
_ENV = celpy.Environment()
_STRING_LITERALS = frozenset({"STRING_LIT", "MLSTRING_LIT", "BYTES_LIT", "MLBYTES_LIT"})


class _Refused(Exception):
    """Raised inside evaluation; deliberately not a ValueError/TypeError, which celpy absorbs.

    Private control flow, not an error anyone sees: it never leaves this module (evaluation
    turns it into :class:`ExpressionError`), so it stays outside the ``TaskFactoryError`` tree.
    """


@functools.lru_cache(maxsize=4096)
def compile_expression(source: str) -> lark.Tree[Any]:
    """The parse tree of ``source``; raises :class:`ExpressionError` for anything refused."""
    if not source.strip():
        raise ExpressionError("expression is empty")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"expression is {len(source)} characters long, over the limit of "
            f"{MAX_EXPRESSION_CHARS}; split it or move the logic into a task"
        )
    try:
        tree: lark.Tree[Any] = _ENV.compile(source)
    except CELParseError as exc:
        raise ExpressionError(
            f"invalid expression {_short(source)}: {_parse_reason(exc)}"
        ) from None
    except RecursionError:
        raise ExpressionError(f"expression {_short(source)} is nested too deeply") from None
    depth = _depth(tree)
    if depth > MAX_EXPRESSION_DEPTH:
        raise ExpressionError(
            f"expression {_short(source)} is nested too deeply (parse depth {depth}, "
            f"limit {MAX_EXPRESSION_DEPTH}); flatten the parentheses or chains"
        )
    for node in tree.iter_subtrees():
        if node.data == "multiplication_mod" and _is_string_literal(node.children[0]):
            raise ExpressionError(
                f"{_short(source)}: string formatting with '%' is not supported; "
                "concatenate with '+' and string()"
            )
    return tree


def _depth(tree: lark.Tree[Any]) -> int:
    # Iterative: the tree being measured may be far deeper than the recursion limit.
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, lark.Tree))
    return deepest


def _is_string_literal(node: Any) -> bool:
    while isinstance(node, lark.Tree) and len(node.children) == 1:
        node = node.children[0]
    return isinstance(node, lark.Token) and node.type in _STRING_LITERALS


def _parse_reason(exc: Exception) -> str:
    # cel-python's message is the source line and a caret under the offending column.
    lines = str(exc).rstrip().splitlines()
    caret = next((line for line in lines if line.strip() == "^"), None)
    if caret is not None:
        return f"syntax error at column {caret.index('^') + 1}"
    return lines[-1].strip() if lines else "syntax error"


def _short(source: str) -> str:
    return repr(source if len(source) <= 120 else source[:117] + "...")


class _Budget:
    """What one evaluation may still spend."""

    __slots__ = ("built", "steps")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.built = MAX_BUILT_SIZE

    def step(self, count: int) -> None:
        self.steps -= count
        if self.steps < 0:
            raise _Refused(
                f"evaluation took more than {MAX_STEPS} steps; an expression must stay small "
                "over the data it reads (nested macros over large lists multiply)"
            )

    def build(self, size: int) -> None:
        self.built -= size
        if self.built < 0:
            raise _Refused(
                f"evaluation built more than {MAX_BUILT_SIZE} characters or items with '+'"
            )


class _Evaluator(Evaluator):
    """cel-python's evaluator, charging every visited node to a shared budget."""

    def __init__(self, ast: lark.Tree[Any], activation: Activation, budget: _Budget) -> None:
        super().__init__(ast, activation)
        self._budget = budget

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        return _Evaluator(ast, self.activation, self._budget)

    def visit(self, tree: lark.Tree[Any]) -> Any:
        self._budget.step(1)
        return super().visit(tree)

    def visit_children(self, tree: lark.Tree[Any]) -> list[Any]:
        self._budget.step(len(tree.children))
        return super().visit_children(tree)


def _sized(value: Any) -> bool:
    return isinstance(value, str | bytes | list)


def _functions(budget: _Budget) -> dict[str, Callable[..., Any]]:
    def add(left: Any, right: Any) -> Any:
        if _sized(left) and _sized(right):
            budget.build(len(left) + len(right))
        return operator.add(left, right)

    def mod(left: Any, right: Any) -> Any:
        # CEL's % is integer remainder; cel-python hands strings to Python's printf.
        if not isinstance(left, celtypes.IntType | celtypes.UintType):
            raise _Refused(
                "'%' is integer remainder only; string formatting is not supported "
                "(concatenate with '+' and string())"
            )
        return operator.mod(left, right)

    def mul(left: Any, right: Any) -> Any:
        # Python would repeat a string or list; CEL multiplies numbers only.
        if _sized(left) or _sized(right):
            raise _Refused("'*' multiplies numbers only; strings and lists cannot be repeated")
        return operator.mul(left, right)

    def raw(value: Any) -> Any:
        return value

    return {"_+_": add, "_%_": mod, "_*_": mul, RAW_FUNCTION: raw}


def run(source: str, activation: Mapping[str, Any]) -> Any:
    """Evaluate ``source`` over CEL ``activation`` values within the budget; a CEL value."""
    tree = compile_expression(source)
    budget = _Budget()
    base = Activation(annotations=_ENV.annotations, functions=_functions(budget))
    try:
        result = _Evaluator(tree, base, budget).evaluate(dict(activation))
    except CELEvalError as exc:
        raise ExpressionError(f"{_short(source)}: {_eval_reason(exc)}") from None
    except _Refused as exc:
        raise ExpressionError(f"{_short(source)}: {exc}") from None
    except RecursionError:
        raise ExpressionError(f"{_short(source)}: the values are nested too deeply") from None
    except MemoryError:
        raise ExpressionError(f"{_short(source)}: ran out of memory") from None
    except Exception as exc:  # cel-python raises many kinds; the caller gets one
        raise ExpressionError(f"{_short(source)}: {type(exc).__name__}: {_clip(exc)}") from None
    if isinstance(result, CELEvalError):
        raise ExpressionError(f"{_short(source)}: {_eval_reason(result)}")
    return result


def _eval_reason(exc: CELEvalError) -> str:
    return _clip(exc.args[0]) if exc.args else type(exc).__name__


def _clip(reason: object) -> str:
    # A reason may quote a value from the event; the error travels into results and logs.
    text = str(reason)
    return text if len(text) <= 300 else text[:297] + "..."


def to_cel(value: Any, depth: int = 0) -> Any:
    """A JSON-like Python value as CEL; raises :class:`ExpressionError` for what CEL cannot hold."""
    if depth > MAX_VALUE_DEPTH:
        raise ExpressionError(f"value is nested deeper than {MAX_VALUE_DEPTH} levels")
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise ExpressionError(
                f"integer {_digits(value)} is outside CEL's 64-bit range; send it as a string"
            )
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, bytes):
        return celtypes.BytesType(value)
    if isinstance(value, _dt.datetime):
        return celtypes.StringType(value.isoformat())
    if isinstance(value, _dt.timedelta):
        return celtypes.DurationType(value)
    if isinstance(value, Mapping):
        return celtypes.MapType(
            {celtypes.StringType(str(k)): to_cel(v, depth + 1) for k, v in value.items()}
        )
    if isinstance(value, list | tuple):
        return celtypes.ListType([to_cel(v, depth + 1) for v in value])
    raise ExpressionError(f"a {type(value).__name__} value cannot be used in an expression")


def _digits(value: int) -> str:
    # str() of a huge int is itself refused by Python (over 4300 digits).
    return str(value) if abs(value) < 10**30 else f"of {value.bit_length()} bits"


def from_cel(value: Any) -> Any:
    """A CEL result as a JSON-like Python value; raises :class:`ExpressionError` when too big."""
    budget = [MAX_RESULT_ITEMS]
    return _from_cel(value, budget)


def _from_cel(value: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise ExpressionError(f"the result holds more than {MAX_RESULT_ITEMS} values")
    # Order matters: BoolType subclasses int.
    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, celtypes.BoolType | bool):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType | int):
        return int(value)
    if isinstance(value, celtypes.DoubleType | float):
        return float(value)
    if isinstance(value, celtypes.StringType | str):
        return str(value)
    if isinstance(value, celtypes.BytesType | bytes):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, celtypes.TimestampType | _dt.datetime):
        return value.isoformat()
    if isinstance(value, celtypes.DurationType | _dt.timedelta):
        return f"{value.total_seconds()}s"
    if isinstance(value, Mapping):
        return {str(_from_cel(k, budget)): _from_cel(v, budget) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_from_cel(v, budget) for v in value]
    return str(value)
