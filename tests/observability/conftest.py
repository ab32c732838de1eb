"""Fixtures of the observability tests: promtool, the metrics catalogue, a PromQL name reader."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from taskfactory_stack.promtool import ensure_promtool
from taskfactory_stack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "metrics.md"

# PromQL words that are never metric names (operators, modifiers, literals).
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
}
# Words followed by a parenthesised list of label names.
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_TOKEN = re.compile(
    r"""
      (?P<space>\s+|\#[^\n]*)
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<range>\[[^\]]*\])
    | (?P<variable>\$\{?\w+\}?)
    | (?P<duration>(?:\d+(?:ms|[smhdwy]))+\b)
    | (?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<punct>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){},@])
    """,
    re.VERBOSE,
)


def metric_names(expr: str) -> set[str]:
    """Names of the metrics a PromQL expression selects (Grafana ``$variables`` allowed).

    A tokenizer, not a pattern over the text: label names in ``{…}`` and ``by (…)`` lists,
    functions and aggregations (a name before ``(`` or ``by``/``without``), keywords,
    strings, durations and ranges are not metric names; ``{__name__="x"}`` is.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot read PromQL at {expr[pos : pos + 20]!r} in {expr!r}")
        pos = match.end()
        if match.lastgroup != "space":
            tokens.append((match.lastgroup or "", match.group()))
    names: set[str] = set()
    braces = 0
    label_list = False  # inside the ( ) after by/without/on/ignoring/group_*
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if text == "{":
            braces += 1
        elif text == "}":
            braces -= 1
        elif text == ")" and label_list:
            label_list = False
        elif kind == "ident" and text.lower() in _LABEL_LISTS and following == "(":
            label_list = True
            tokens[i + 1] = ("punct", "(label-list")
        elif kind == "ident" and braces == 0 and not label_list:
            # A name before ( or a by/without clause is a function or an aggregation.
            operator = following == "(" or following.lower() in ("by", "without")
            if not operator and text.lower() not in _KEYWORDS:
                names.add(text)
        elif kind == "ident" and text == "__name__" and braces and following == "=":
            names.add(tokens[i + 2][1][1:-1])
    return names


@pytest.fixture(scope="session")
def promql_metric_names() -> Callable[[str], set[str]]:
    """:func:`metric_names`."""
    return metric_names


@pytest.fixture(scope="session")
def catalogue() -> dict[str, str]:
    """Every metric of docs/metrics.md with its type (first column of its tables)."""
    out = {}
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        row = re.match(r"\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*([a-z]+)\s*\|", line)
        if row:
            out[row.group(1)] = row.group(2)
    assert len(out) > 30, "docs/metrics.md tables not found"
    return out


@pytest.fixture(scope="session")
def family(catalogue: dict[str, str]) -> Callable[[str], str]:
    """The catalogued family a series name belongs to (histogram _bucket/_sum/_count)."""

    def of(name: str) -> str:
        for suffix in ("_bucket", "_sum", "_count"):
            base = name.removesuffix(suffix)
            if base != name and catalogue.get(base) == "histogram":
                return base
        return name

    return of


@pytest.fixture(scope="session")
def promtool() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run promtool (`taskfactory-stack prepare` builds it from its Go module; so does this)."""
    binary = ensure_promtool(StackSettings())

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), *map(str, args)], capture_output=True, text=True, check=False, timeout=60
        )

    return run
