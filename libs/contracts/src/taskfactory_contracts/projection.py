"""A fast path for writer→reader resolution when the reader only adds or drops fields.

fastavro resolves a record against a different reader schema several times slower than it
reads it with the writer's schema alone. When every field both schemas share has the same
type, resolution is just "drop the writer's extra fields, fill the reader's new ones with their
defaults", which :class:`Projection` does on the dict the writer's schema produced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Projection", "plan_projection"]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_IGNORED = frozenset({"doc", "aliases", "default", "order"})


@dataclass(frozen=True, slots=True)
class Projection:
    """Fields to drop from, and defaults to add to, a record read with the writer's schema."""

    drop: tuple[str, ...]
    fill: tuple[tuple[str, Callable[[], Any]], ...]

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` reshaped as the reader's schema would have read it (in place)."""
        for name in self.drop:
            del record[name]
        for name, make in self.fill:
            record[name] = make()
        return record


def _comparable(schema: Any) -> str | None:
    """The type as JSON without docs, or ``None`` when it refers to a named type by name."""

    def strip(node: Any) -> Any:
        if isinstance(node, str):
            if node not in _PRIMITIVES:
                raise LookupError(node)
            return node
        if isinstance(node, list):
            return [strip(n) for n in node]
        if isinstance(node, dict):
            return {
                k: strip(v) if k in ("type", "items", "values", "fields") else v
                for k, v in node.items()
                if k not in _IGNORED
            }
        return node

    try:
        return json.dumps(strip(schema), sort_keys=True)
    except LookupError:
        return None


def _default_factory(field: dict[str, Any]) -> Callable[[], Any] | None:
    default = field["default"]
    kind = field["type"][0] if isinstance(field["type"], list) else field["type"]
    if isinstance(kind, dict):
        if "logicalType" in kind:  # the default is the base value, not what readers return
            return None
        kind = kind["type"]
    if default == {} and kind == "map":
        return dict
    if default == [] and kind == "array":
        return list
    if kind == "bytes" and isinstance(default, str):
        value: Any = default.encode("latin-1")
    elif kind in _PRIMITIVES and (default is None or isinstance(default, str | int | float)):
        value = default
    else:
        return None
    return lambda: value


def plan_projection(writer: dict[str, Any], reader: dict[str, Any]) -> Projection | None:
    """A projection equivalent to resolving ``writer`` to ``reader``, or ``None`` if there is
    none (a type changed, an alias is needed, or a default is not a plain value)."""
    if writer.get("type") != "record" or reader.get("type") != "record":
        return None
    if writer.get("name") != reader.get("name") or writer.get("namespace") != reader.get(
        "namespace"
    ):
        return None
    written = {f["name"]: f for f in writer["fields"]}
    fill: list[tuple[str, Callable[[], Any]]] = []
    for field in reader["fields"]:
        source = written.get(field["name"])
        if source is not None:
            same = _comparable(source["type"])
            if same is None or same != _comparable(field["type"]):
                return None
            continue
        if "default" not in field or any(a in written for a in field.get("aliases", ())):
            return None
        factory = _default_factory(field)
        if factory is None:
            return None
        fill.append((field["name"], factory))
    read = {f["name"] for f in reader["fields"]}
    return Projection(tuple(n for n in written if n not in read), tuple(fill))
