"""Schema-evolution gate: every version of a record is backward and forward compatible with
the previous one. ``python -m taskfactory_contracts.compat schemas/avro`` exits 1 naming the
record, the versions and the offending field.

Two checks agree: the Avro spec's resolution rules applied to the two schemas (which name the
field), and fastavro actually resolving a sample record written with one and read with the other.
"""

from __future__ import annotations

import io
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import expand_schema

from taskfactory_contracts.schemas import SchemaStore, StoredSchema

__all__ = ["check_pair", "check_store", "main", "resolution_problems"]

_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    kind = schema["type"]
    return _kind(kind) if not isinstance(kind, str) else kind


def _unwrap(schema: Any) -> Any:
    while isinstance(schema, dict) and not isinstance(schema["type"], str):
        schema = schema["type"]
    return schema


def _matches(writer: Any, reader: Any, where: str) -> list[str]:
    return [] if not resolution_problems(writer, reader, where) else ["x"]


def resolution_problems(writer: Any, reader: Any, where: str = "") -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty when it can)."""
    writer, reader = _unwrap(writer), _unwrap(reader)
    wk, rk = _kind(writer), _kind(reader)
    at = f"{where}: " if where else ""
    if wk == "union":
        problems: list[str] = []
        for branch in writer:
            problems += resolution_problems(branch, reader, where)
        return problems
    if rk == "union":
        if any(not _matches(writer, branch, where) for branch in reader):
            return []
        return [f"{at}writer type {wk} matches no branch of the reader's union"]
    if wk != rk:
        if rk in _PROMOTIONS.get(wk, set()):
            return []
        return [f"{at}writer type {wk} cannot be read as {rk}"]
    if wk == "record":
        return _record_problems(writer, reader, where)
    if wk == "enum":
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            return [f"{at}enum symbols {missing} unknown to the reader, which has no default"]
        return []
    if wk == "array":
        return resolution_problems(writer["items"], reader["items"], f"{where}[]")
    if wk == "map":
        return resolution_problems(writer["values"], reader["values"], f"{where}{{}}")
    if wk == "fixed" and writer["size"] != reader["size"]:
        return [f"{at}fixed size {writer['size']} read as size {reader['size']}"]
    return []


def _record_problems(writer: dict[str, Any], reader: dict[str, Any], where: str) -> list[str]:
    at = f"{where}: " if where else ""
    if writer["name"] != reader["name"] and writer["name"] not in reader.get("aliases", []):
        return [f"{at}record {writer['name']} read as {reader['name']}"]
    written = {f["name"]: f for f in writer["fields"]}
    problems: list[str] = []
    for field in reader["fields"]:
        name = field["name"]
        path = f"{where}.{name}" if where else name
        source = written.get(name) or next(
            (written[a] for a in field.get("aliases", []) if a in written), None
        )
        if source is None:
            if "default" not in field:
                problems.append(f"field {path!r}: missing from the writer and has no default")
            continue
        problems += [
            f"field {path!r}: {p}" for p in resolution_problems(source["type"], field["type"], "")
        ]
    return problems


def _sample(schema: Any) -> Any:
    schema = _unwrap(schema)
    kind = _kind(schema)
    if kind == "union":
        return _sample(schema[-1])
    samples: dict[str, Any] = {
        "null": None,
        "boolean": True,
        "int": 1,
        "long": 1,
        "float": 1.0,
        "double": 1.0,
        "bytes": b"x",
        "string": "x",
    }
    if kind in samples:
        return samples[kind]
    if kind == "record":
        return {f["name"]: _sample(f["type"]) for f in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][-1]
    if kind == "array":
        return [_sample(schema["items"])]
    if kind == "map":
        return {"k": _sample(schema["values"])}
    return b"\0" * int(schema["size"])


def _fastavro_problem(writer: StoredSchema, reader: StoredSchema) -> str | None:
    # Logical types are read as their base types here: the sample is about resolution only.
    wraw, rraw = _plain(expand_schema(writer.raw)), _plain(expand_schema(reader.raw))
    buf = io.BytesIO()
    try:
        fastavro.schemaless_writer(buf, fastavro.parse_schema(wraw), _sample(wraw))
        buf.seek(0)
        fastavro.schemaless_reader(buf, fastavro.parse_schema(wraw), fastavro.parse_schema(rraw))
    except Exception as exc:  # fastavro's resolution errors have no common base class
        return f"fastavro cannot resolve: {type(exc).__name__}: {exc}"
    return None


def _plain(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_plain(s) for s in schema]
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if k != "logicalType"}
    return schema


def check_pair(old: StoredSchema, new: StoredSchema) -> list[str]:
    """Problems making ``new`` not backward or forward compatible with ``old``."""
    label = f"{new.name} v{old.version} -> v{new.version}"
    problems: list[str] = []
    directions = (
        ("backward", f"v{new.version} reading v{old.version}", old, new),
        ("forward", f"v{old.version} reading v{new.version}", new, old),
    )
    for direction, how, writer, reader in directions:
        found = resolution_problems(expand_schema(writer.raw), expand_schema(reader.raw))
        fastavro_problem = _fastavro_problem(writer, reader)
        if fastavro_problem and not found:
            found = [fastavro_problem]
        problems += [f"{label}: not {direction} compatible ({how}): {p}" for p in found]
    return problems


def check_store(store: SchemaStore) -> list[str]:
    """Problems between consecutive versions of every record in ``store``."""
    problems: list[str] = []
    for name in store.names():
        versions = store.versions(name)
        for old, new in itertools.pairwise(versions):
            problems += check_pair(old, new)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Check the schema folder named in ``argv`` (default ``schemas/avro``); 0 when compatible."""
    args = list(sys.argv[1:] if argv is None else argv)
    folder = Path(args[0] if args else "schemas/avro")
    try:
        store = SchemaStore(folder)
    except Exception as exc:  # bad JSON, bad file name, fastavro parse errors: report all
        print(f"schemas-check: cannot load {folder}: {exc}", file=sys.stderr)
        return 2
    problems = check_store(store)
    for problem in problems:
        print(f"schemas-check: {problem}", file=sys.stderr)
    if problems:
        return 1
    for name in store.names():
        versions = ", ".join(f"v{s.version}" for s in store.versions(name))
        print(f"schemas-check: {name} ({versions}) compatible")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
