"""Expressions are bounded: hostile expressions and hostile values end in ExpressionError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskfactory_contracts.celengine import MAX_STEPS
from taskfactory_contracts.expressions import (
    ExpressionError,
    check_expression,
    evaluate,
    evaluate_bool,
    render,
)

KNOWN: dict[str, frozenset[str] | None] = {"event": None}


def _event(**data: Any) -> dict[str, Any]:
    return {"event": {"data": data, "type": "com.example.t"}}


@pytest.mark.parametrize(
    "source", ["'%01000000000d' % 1", "'%r' % event", "b'%s' % event", "('%d' + '') % 1"]
)
def test_string_formatting_with_percent_is_refused_when_the_definition_loads(
    source: str,
) -> None:
    # '%01000000000d' % 1 was Python printf: a gigabyte for one evaluation.
    if source.startswith("("):
        # Not a literal left operand: only evaluation can tell, and it refuses.
        with pytest.raises(ExpressionError, match="string formatting is not supported"):
            evaluate(source, _event())
        return
    with pytest.raises(ExpressionError, match="string formatting with '%' is not supported"):
        check_expression(source, KNOWN)


def test_string_formatting_through_a_variable_is_refused_when_evaluated() -> None:
    with pytest.raises(ExpressionError, match="string formatting is not supported"):
        evaluate("event.data.fmt % event", _event(fmt="%r"))
    assert evaluate("event.data.n % 4", _event(n=10)) == 2


@pytest.mark.parametrize("source", ["event.data.s * 3", "3 * event.data.s", "event.data.l * 2"])
def test_strings_and_lists_cannot_be_repeated(source: str) -> None:
    with pytest.raises(ExpressionError, match="multiplies numbers only"):
        evaluate(source, _event(s="ab", l=[1]))


@pytest.mark.parametrize(
    "source",
    [
        "(" * 40 + "event.data.x" + ")" * 40,
        "+".join(["1"] * 300),
        "[" * 60 + "1" + "]" * 60,
        "event" + ".data" * 200,
    ],
)
def test_a_deeply_nested_expression_is_rejected_when_the_definition_loads(source: str) -> None:
    # Today these load, then raise RecursionError in the workflow when evaluated.
    with pytest.raises(ExpressionError, match="nested too deeply"):
        check_expression(source, KNOWN)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        evaluate(source, _event(x=1))


def test_reasonable_nesting_still_loads_and_evaluates() -> None:
    source = "(" * 15 + "event.data.x + 1" + ")" * 15
    check_expression(source, KNOWN)
    assert evaluate(source, _event(x=1)) == 2


def test_a_very_long_expression_is_refused() -> None:
    source = "event.data.x == '" + "a" * 5000 + "'"
    with pytest.raises(ExpressionError, match="over the limit of 4096"):
        check_expression(source, KNOWN)


def test_nested_macros_over_a_large_list_stop_at_the_step_budget() -> None:
    items = list(range(400))
    with pytest.raises(ExpressionError, match=f"more than {MAX_STEPS} steps"):
        evaluate("event.data.l.map(a, event.data.l.map(b, a + b)).size()", _event(l=items))


def test_a_filter_over_a_realistic_list_fits_the_budget() -> None:
    items = [{"price": i} for i in range(1000)]
    assert evaluate_bool("event.data.items.exists(i, i.price > 998)", _event(items=items))


def test_concatenation_cannot_grow_without_bound() -> None:
    with pytest.raises(ExpressionError, match="built more than"):
        evaluate(
            "event.data.l.map(x, event.data.s + event.data.s)",
            _event(l=list(range(600)), s="x" * 1000),
        )


def test_an_integer_beyond_64_bits_in_event_data_is_an_expression_error() -> None:
    # Today: ValueError from the CEL conversion, which kills the ingress key worker.
    with pytest.raises(ExpressionError, match="outside CEL's 64-bit range"):
        evaluate_bool("event.data.amount > 5", _event(amount=2**63))
    assert evaluate("event.data.amount", _event(amount=2**63 - 1)) == 2**63 - 1


def test_deeply_nested_event_data_is_an_expression_error() -> None:
    nested: Any = 1
    for _ in range(5000):
        nested = [nested]
    # Today: RecursionError.
    with pytest.raises(ExpressionError, match="nested deeper than"):
        evaluate_bool("event.type == 'x'", _event(deep=nested))


def test_arithmetic_overflow_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="overflow"):
        evaluate("event.data.n + 1", _event(n=2**63 - 1))


def test_raw_is_the_identity_outside_urls() -> None:
    assert render("{{ raw(event.data.x) }}!", _event(x="a/b")) == "a/b!"


# Hostile values: huge, deep, lone surrogates, NaN/inf, integers at and beyond 64 bits.
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None, categories=None), max_size=50)
    | st.just("\ud800")
    | st.just("%01000000000d")
    | st.just("x" * 100_000)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)


@st.composite
def _hostile(draw: st.DrawFn) -> Any:
    value = draw(_VALUES)
    for _ in range(draw(st.sampled_from([0, 1, 50, 99, 101, 2000]))):
        value = {"n": value} if draw(st.booleans()) else [value]
    return value


_EXPRESSIONS = [
    "event.data.v",
    "event.data.v == 1",
    "event.data.v > 1",
    "event.data.v + event.data.v",
    "event.data.v % 7",
    "event.data.v * 2",
    "size(event.data.v)",
    "string(event.data.v)",
    "int(event.data.v)",
    "double(event.data.v)",
    "event.data.v.exists(x, x == 1)",
    "event.data.v.map(x, event.data.v).size()",
    "event.data.v.matches('(a+)+$')",
    "event.data.v.n.n.n",
    "event.data",
    "has(event.data.v.n)",
    "event.data.v[0]",
    "event.data.v['n']",
    "timestamp(event.data.v) + duration('1h')",
    "duration(event.data.v)",
    "event.data.v / 0",
    "event.data.v - 9223372036854775807 - 2",
]
_TEMPLATES: list[Any] = [
    "{{ event.data.v }}",
    "v={{ event.data.v }} and {{ size(event.data.v) }}",
    {"a": ["{{ event.data.v }}", "{{ event.data }}"], "{{ string(event.data.v) }}": 1},
]


def _error_of(call: Callable[[], Any]) -> str | None:
    """The message of the ExpressionError ``call`` raises, None if it returns."""
    try:
        call()
    except ExpressionError as exc:
        return str(exc)
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_hostile(), source=st.sampled_from(_EXPRESSIONS))
def test_evaluate_raises_only_expression_error_over_hostile_values(value: Any, source: str) -> None:
    # Any other exception escapes and fails the test; an ExpressionError must say why.
    assert _error_of(lambda: evaluate(source, _event(v=value))) != ""


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_hostile(), template=st.sampled_from(_TEMPLATES))
def test_render_raises_only_expression_error_over_hostile_values(value: Any, template: Any) -> None:
    assert _error_of(lambda: render(template, _event(v=value))) != ""
