"""Schema-evolution gate: every version of a record is backward and forward compatible with
the previous one. ``python -m taskfactory_contracts.compat schemas/avro`` exits 1 naming the
record, the versions and the offending field.

Two checks agree: Apache avro's reader/writer compatibility checker (the reference
implementation's rules, applied field by field so each problem names its field, plus a
comparison of logical types, which it does not look at), and fastavro actually resolving a
sample record written with one and read with the other.
"""

from __future__ import annotations

import io
import itertools
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import avro.compatibility
import avro.errors
import avro.schema
import fastavro
from fastavro.schema import expand_schema

from taskfactory_contracts.schemas import SchemaStore, StoredSchema

__all__ = ["check_pair", "check_store", "main", "resolution_problems"]

_LOGICAL_KEYS = ("logicalType", "precision", "scale", "size")


def _parse(schema: Any) -> avro.schema.Schema:
    with warnings.catch_warnings():  # an unknown logical type is compared as written
        warnings.simplefilter("ignore", avro.errors.IgnoredLogicalType)
        return avro.schema.parse(json.dumps(schema))


def resolution_problems(writer: Any, reader: Any, where: str = "") -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty when it can).

    The rules are Apache avro's reader/writer compatibility checker's; a record's fields are
    checked one by one so that each problem names its field. Logical types are compared on
    top (the checker looks at the underlying types only): a ``timestamp-micros`` read as
    ``timestamp-millis`` resolves, but every value would change meaning.
    """
    return _problems(_parse(writer), _parse(reader), where)


def _problems(writer: avro.schema.Schema, reader: avro.schema.Schema, where: str) -> list[str]:
    if not (
        isinstance(writer, avro.schema.RecordSchema)
        and isinstance(reader, avro.schema.RecordSchema)
        and writer.fullname in {reader.fullname, *_aliases(reader)}
    ):
        return _pair_problems(writer, reader, where)
    problems: list[str] = []
    for field in reader.fields:
        path = f"{where}.{field.name}" if where else field.name
        source = avro.compatibility.lookup_writer_field(writer, field)
        if source is None:
            if not field.has_default:
                problems.append(f"field {path!r}: missing from the writer and has no default")
            continue
        problems += _pair_problems(source.type, field.type, path)
    return problems


def _aliases(schema: avro.schema.NamedSchema) -> list[str]:
    aliases = schema.props.get("aliases")
    return list(aliases) if isinstance(aliases, list) else []


def _pair_problems(writer: avro.schema.Schema, reader: avro.schema.Schema, path: str) -> list[str]:
    at = f"field {path!r}: " if path else ""
    checker = avro.compatibility.ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    problems: list[str] = []
    if result.compatibility is avro.compatibility.SchemaCompatibilityType.incompatible:
        inner = sorted(loc for loc in result.locations if loc not in {"", "/"})
        within = f" (at {', '.join(inner)})" if inner else ""
        problems += [f"{at}{message}{within}" for message in sorted(result.messages)]
    return problems + [f"{at}{p}" for p in _logical_problems(writer, reader)]


def _logical(schema: avro.schema.Schema) -> tuple[Any, ...] | None:
    if schema.props.get("logicalType") is None:
        return None
    return tuple(schema.props.get(key) for key in _LOGICAL_KEYS)


def _logical_problems(writer: avro.schema.Schema, reader: avro.schema.Schema) -> list[str]:
    """Logical types that differ where the checker pairs the two schemas."""
    if isinstance(writer, avro.schema.UnionSchema) or isinstance(reader, avro.schema.UnionSchema):
        wb = writer.schemas if isinstance(writer, avro.schema.UnionSchema) else [writer]
        rb = reader.schemas if isinstance(reader, avro.schema.UnionSchema) else [reader]
        problems: list[str] = []
        for w in wb:
            same = next((r for r in rb if r.type == w.type), None)
            if same is not None:
                problems += _logical_problems(w, same)
        return problems
    if writer.type != reader.type:
        return []
    if isinstance(writer, avro.schema.ArraySchema):
        return _logical_problems(writer.items, reader.items)  # type: ignore[attr-defined]
    if isinstance(writer, avro.schema.MapSchema):
        return _logical_problems(writer.values, reader.values)  # type: ignore[attr-defined]
    if isinstance(writer, avro.schema.RecordSchema):
        nested: list[str] = []
        for field in reader.fields:  # type: ignore[attr-defined]
            source = avro.compatibility.lookup_writer_field(writer, field)
            if source is not None:
                nested += [f"{field.name}: {p}" for p in _logical_problems(source.type, field.type)]
        return nested
    w, r = _logical(writer), _logical(reader)
    if w == r:
        return []

    def name(logical: tuple[Any, ...] | None) -> str:
        if logical is None:
            return f"plain {writer.type}"
        extra = ", ".join(
            f"{k} {v}" for k, v in zip(_LOGICAL_KEYS[1:], logical[1:], strict=True) if v is not None
        )
        return f"{logical[0]}" + (f" ({extra})" if extra else "")

    return [f"logical type {name(w)} read as {name(r)}: every value would change meaning"]


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
