"""Strict, bounded JSON for event data: what expressions may see of an outsider's payload.

Python's ``json`` accepts ``NaN``/``Infinity`` and lets a later duplicate key silently win, so
``{"amount": 10, "amount": 1e9}`` or ``{"amount": NaN}`` could slip past a CEL gate
(``NaN > 1000`` is false). CEL also has 64-bit integers only, and converting a deeply nested
value recurses once per level. Event data is therefore checked once, before any expression
sees it: strict JSON, nesting at most ``max_depth``, integers within int64, finite numbers,
valid Unicode strings. Data that is not JSON at all stays acceptable (expressions see it as
text, which is always valid Unicode).
"""

from __future__ import annotations

import json
import math
from typing import Any

from taskfactory_contracts.errors import NotStrictJsonError, SchemaValidationError

__all__ = ["DEFAULT_MAX_DEPTH", "check_event_data", "strict_loads"]

#: Nesting levels event data may have (a value inside ``{"a": [ … ]}`` is at level 2).
DEFAULT_MAX_DEPTH = 64
_INT64 = (-(2**63), 2**63 - 1)


def _refuse_constant(name: str) -> Any:
    raise NotStrictJsonError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise NotStrictJsonError(f"duplicate key {key[:64]!r}")
        out[key] = value
    return out


def strict_loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses ``NaN``/``Infinity`` and duplicate keys
    (:class:`NotStrictJsonError`, a ``ValueError``); deep nesting raises ``RecursionError``."""
    return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates)


def _bad_string(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _problem(document: Any, max_depth: int) -> str | None:
    """The first reason ``document`` is out of bounds, or ``None``; iterative (no recursion)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
            if isinstance(value, dict) and any(_bad_string(k) for k in value):
                return "a key is not valid Unicode (lone surrogate)"
        elif isinstance(value, str):
            if _bad_string(value):
                return "a string is not valid Unicode (lone surrogate)"
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not _INT64[0] <= value <= _INT64[1]:
                return "an integer is outside the 64-bit range expressions support"
        elif isinstance(value, float) and not math.isfinite(value):
            return "a number is not finite"
    return None


def check_event_data(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Raise :class:`SchemaValidationError` when ``data`` is JSON outside the bounds above."""
    if not data:
        return
    try:
        document = strict_loads(data)
    except NotStrictJsonError as exc:
        raise SchemaValidationError(f"event data is not strict JSON: {exc}", where="data") from exc
    except RecursionError as exc:
        raise SchemaValidationError(
            f"event data is nested deeper than {max_depth} levels", where="data"
        ) from exc
    except ValueError:  # not JSON (or an integer of thousands of digits): expressions see text
        return
    problem = _problem(document, max_depth)
    if problem is not None:
        raise SchemaValidationError(f"event data: {problem}", where="data")
