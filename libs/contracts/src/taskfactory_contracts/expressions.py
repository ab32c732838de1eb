"""Sandboxed expressions (CEL) and ``{{ … }}`` templates used by filters, ``when`` and ``params``.

CEL (Common Expression Language, the ``cel-python`` implementation) is side-effect free, has
no I/O, no loops and always terminates, so a definition file can never run arbitrary code in
the orchestrator. Every expression is parsed when its definition is loaded
(:func:`check_expression`), so a typo is a load error. Evaluation is a pure function of the
variables, which is what lets the workflow evaluate templates deterministically, and it is
bounded (:mod:`taskfactory_contracts.celengine`): whatever an expression or an event holds,
the only exception it raises is :class:`ExpressionError`.

A ``params`` string that is exactly ``{{ expr }}`` becomes the expression's typed JSON value
(a list stays a list); any other string with ``{{ … }}`` parts is rendered as text. URLs are
rendered by :func:`render_url`, which percent-encodes every value for its place in the URL.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from taskfactory_contracts.celengine import compile_expression, from_cel, run, to_cel
from taskfactory_contracts.errors import ExpressionError
from taskfactory_contracts.urls import TEMPLATE as _TEMPLATE
from taskfactory_contracts.urls import check_url_template, render_url_parts

__all__ = [
    "ExpressionError",
    "Scope",
    "check_expression",
    "check_template",
    "check_url_template",
    "evaluate",
    "evaluate_bool",
    "references",
    "render",
    "render_http_params",
    "render_url",
    "template_expressions",
]

_WHOLE = re.compile(r"^\s*\{\{(.*?)\}\}\s*$", re.DOTALL)
_MACROS = frozenset({"map", "filter", "all", "exists", "exists_one"})


def references(source: str) -> tuple[set[str], set[tuple[str, str]]]:
    """Free root variables of ``source`` and the ``(root, field)`` pairs it selects on them."""
    tree = compile_expression(source)
    bound: set[str] = set()
    roots: set[str] = set()
    fields: set[tuple[str, str]] = set()
    for node in tree.iter_subtrees():
        if node.data == "member_dot_arg" and str(node.children[1]) in _MACROS:
            first = _first_ident(node.children[2])
            if first:
                bound.add(first)
    for node in tree.iter_subtrees():
        if node.data == "ident":
            roots.add(str(node.children[0]))
        elif node.data == "member_dot":
            root = _bare_ident(node.children[0])
            if root:
                fields.add((root, str(node.children[1])))
    return roots - bound, {f for f in fields if f[0] not in bound}


def _bare_ident(node: Any) -> str | None:
    # member -> primary -> ident -> IDENT
    while getattr(node, "data", None) in ("member", "primary") and len(node.children) == 1:
        node = node.children[0]
    if getattr(node, "data", None) == "ident":
        return str(node.children[0])
    return None


def _first_ident(exprlist: Any) -> str | None:
    children = getattr(exprlist, "children", [])
    if not children:
        return None
    node = children[0]
    while hasattr(node, "children") and len(node.children) == 1 and node.data != "ident":
        node = node.children[0]
    if getattr(node, "data", None) == "ident":
        return str(node.children[0])
    return None


def check_expression(source: str, known: Mapping[str, frozenset[str] | None]) -> None:
    """Parse ``source`` and check the variables it names; raises :class:`ExpressionError`.

    ``known`` maps each root variable to the fields it has (``None``: any field).
    """
    roots, fields = references(source)
    for root in sorted(roots):
        if root not in known:
            raise ExpressionError(
                f"{source!r} names unknown variable {root!r}; known: {', '.join(sorted(known))}"
            )
    for root, field in sorted(fields):
        allowed = known.get(root)
        if allowed is not None and field not in allowed:
            have = ", ".join(sorted(allowed)) or "none"
            raise ExpressionError(f"{source!r}: {root} has no field {field!r} (has: {have})")


def template_expressions(value: Any) -> Iterator[str]:
    """Every ``{{ … }}`` expression inside a JSON-like ``value``, depth first."""
    if isinstance(value, str):
        for match in _TEMPLATE.finditer(value):
            yield match.group(1).strip()
    elif isinstance(value, Mapping):
        for key in value:
            yield from template_expressions(key)
            yield from template_expressions(value[key])
    elif isinstance(value, list | tuple):
        for item in value:
            yield from template_expressions(item)


def check_template(value: Any, known: Mapping[str, frozenset[str] | None]) -> None:
    """Check every expression inside a params template."""
    for source in template_expressions(value):
        check_expression(source, known)


class Scope(Mapping[str, Any]):
    """Expression variables, each converted to CEL once, however many expressions read it.

    A ``for_each`` over many items binds ``item``/``index`` with :meth:`child` and reuses the
    conversions of the (possibly large) event and context.
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)
        self._cel: dict[str, Any] = {}

    def child(self, **extra: Any) -> Scope:
        """This scope plus ``extra`` bindings, sharing the conversions already made."""
        scope = Scope({**self._values, **extra})
        scope._cel = {k: v for k, v in self._cel.items() if k not in extra}
        return scope

    def cel(self, name: str) -> Any:
        """The CEL value of one variable."""
        if name not in self._cel:
            self._cel[name] = to_cel(self._values[name])
        return self._cel[name]

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@functools.lru_cache(maxsize=4096)
def _roots(source: str) -> frozenset[str]:
    return frozenset(references(source)[0])


def evaluate(source: str, variables: Mapping[str, Any]) -> Any:
    """The JSON value of ``source`` with ``variables`` bound; raises :class:`ExpressionError`."""
    scope = variables if isinstance(variables, Scope) else Scope(variables)
    activation = {name: scope.cel(name) for name in _roots(source) if name in scope}
    return from_cel(run(source, activation))


def evaluate_bool(source: str, variables: Mapping[str, Any]) -> bool:
    """``source`` must be a boolean: filters and ``when``."""
    value = evaluate(source, variables)
    if not isinstance(value, bool):
        got = json.dumps(value, sort_keys=True)
        got = got if len(got) <= 100 else got[:97] + "..."
        raise ExpressionError(f"{source!r} must be true or false, got {got}")
    return value


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """``value`` with every ``{{ … }}`` replaced by its expression's value."""
    if not isinstance(variables, Scope):
        variables = Scope(variables)
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole and "{{" not in whole.group(1):
            return evaluate(whole.group(1).strip(), variables)
        return _TEMPLATE.sub(lambda m: _text(evaluate(m.group(1).strip(), variables)), value)
    if isinstance(value, Mapping):
        return {render(k, variables): render(v, variables) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, variables) for v in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def render_url(template: str, variables: Mapping[str, Any]) -> str:
    """``template`` rendered as a URL: each value percent-encoded for its place in it.

    A value cannot change the scheme, host or path structure; ``{{ raw(expr) }}`` inserts a
    trusted value as it is (see :mod:`taskfactory_contracts.urls`).
    """
    scope = variables if isinstance(variables, Scope) else Scope(variables)
    return render_url_parts(template, lambda source: _text(evaluate(source, scope)))


def render_http_params(params: Mapping[str, Any], variables: Mapping[str, Any]) -> Any:
    """An ``http`` task's ``params``: ``url`` by :func:`render_url`, the rest by :func:`render`."""
    scope = variables if isinstance(variables, Scope) else Scope(variables)
    rendered = render(params, scope)
    url = params.get("url")
    if isinstance(url, str):
        rendered["url"] = render_url(url, scope)
    return rendered
