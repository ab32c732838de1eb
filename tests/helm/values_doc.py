"""The chart's values table, generated from the "# --" comments of values.yaml.

``python tests/helm/values_doc.py`` rewrites the table between the markers of the chart's
README.md; the chart tests fail when the table is stale or a value has no description.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "taskfactory"
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")
_DOC = re.compile(r"^ *# -- ?(?P<text>.*)$")


@dataclass(frozen=True)
class Doc:
    """One documented value."""

    path: str
    description: str


def documented(text: str) -> list[Doc]:
    """Every key of values.yaml preceded by a "# --" comment, as a dotted path."""
    docs: list[Doc] = []
    stack: list[tuple[int, str]] = []
    pending: str | None = None
    block_indent: int | None = None  # inside a `key: |` block scalar deeper than this
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                continue
            block_indent = None
        if m := _DOC.match(line):
            pending = m["text"].strip()
            continue
        m = _KEY.match(line)
        if not m or line.lstrip().startswith(("#", "-")):
            if line.strip() and not line.lstrip().startswith("#"):
                pending = None
            continue
        level = len(m["indent"])
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, m["key"]))
        if pending is not None:
            docs.append(Doc(".".join(k for _, k in stack), pending))
            pending = None
        if m["rest"].strip() in ("|", "|-", ">", ">-"):
            block_indent = level
    return docs


def leaves(values: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf (scalar, list or empty map) of the values."""
    if isinstance(values, dict) and values:
        return [p for k, v in values.items() for p in leaves(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")]


def lookup(values: Any, path: str) -> Any:
    for key in path.split("."):
        values = values[key]
    return values


def _default(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    if len(text) > 60:
        return "see values.yaml"
    return f"`{text}`".replace("|", "\\|")


def _type(value: Any) -> str:
    return {
        bool: "bool",
        int: "int",
        float: "float",
        str: "string",
        list: "list",
        dict: "object",
    }.get(type(value), "null")


def table(values_text: str) -> str:
    """The Markdown table: key, type, default, description."""
    values = yaml.safe_load(values_text)
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for doc in documented(values_text):
        value = lookup(values, doc.path)
        description = doc.description.replace("|", "\\|")
        rows.append(f"| `{doc.path}` | {_type(value)} | {_default(value)} | {description} |")
    return "\n".join(rows)


def update_readme(readme: Path, values: Path) -> bool:
    """Rewrite the table between the markers; True when the README changed."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{table(values.read_text(encoding='utf-8'))}\n{END}{tail}"
    if new == text:
        return False
    readme.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":
    changed = update_readme(CHART / "README.md", CHART / "values.yaml")
    print("chart README updated" if changed else "chart README up to date")
    sys.exit(0)
