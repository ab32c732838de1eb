"""The Avro schemas shipped in ``schemas/avro/``, by record name, version and fingerprint."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro

__all__ = [
    "SchemaStore",
    "StoredSchema",
    "crc64_avro",
    "default_store",
    "parse_schema",
    "parsing_canonical_form",
]

_FILE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\.v(?P<version>\d+)\.avsc$")
_EMPTY64 = 0xC15D213AA4D7A795
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})


def _crc64_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return tuple(table)


_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> bytes:
    """The Avro spec's CRC-64-AVRO (Rabin) fingerprint of ``data``, as 8 little-endian bytes."""
    fp = _EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def _fullname(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _canonical(schema: Any, namespace: str, seen: set[str], keep_logical: bool) -> Any:
    if isinstance(schema, list):
        return [_canonical(s, namespace, seen, keep_logical) for s in schema]
    if isinstance(schema, str):
        return schema if schema in _PRIMITIVES else _fullname(schema, namespace)
    kind = schema["type"]
    if not isinstance(kind, str):  # {"type": {...}} or {"type": [...]}
        return _canonical(kind, namespace, seen, keep_logical)
    if kind in _PRIMITIVES:
        # The Apache Python package keeps the object form of a logical type's base type.
        return {"type": kind} if keep_logical and "logicalType" in schema else kind
    if kind == "array":
        return {"type": kind, "items": _canonical(schema["items"], namespace, seen, keep_logical)}
    if kind == "map":
        return {"type": kind, "values": _canonical(schema["values"], namespace, seen, keep_logical)}
    if kind not in _NAMED:
        return _fullname(kind, namespace)
    name = _fullname(schema["name"], schema.get("namespace", namespace))
    if name in seen:
        return name
    seen.add(name)
    inner = name.rpartition(".")[0]
    out: dict[str, Any] = {"name": name, "type": kind}
    if kind in ("record", "error"):
        out["fields"] = [
            {"name": f["name"], "type": _canonical(f["type"], inner, seen, keep_logical)}
            for f in schema["fields"]
        ]
    elif kind == "enum":
        out["symbols"] = list(schema["symbols"])
    else:
        out["size"] = int(schema["size"])
    return out


def parsing_canonical_form(schema: Any, *, keep_logical_wrappers: bool = False) -> str:
    """The spec's Parsing Canonical Form of a raw (JSON-loaded) schema.

    ``keep_logical_wrappers`` reproduces the Apache ``avro`` Python package, which keeps
    ``{"type":"long"}`` for a logical-type field where the spec (and fastavro) write ``"long"``.
    """
    canonical = _canonical(schema, "", set(), keep_logical_wrappers)
    return json.dumps(canonical, separators=(",", ":"), ensure_ascii=False)


def _without_micros(raw: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    fields, micros = [], []
    for field in raw.get("fields", ()):
        kind = field["type"]
        if isinstance(kind, dict) and kind.get("logicalType") == "timestamp-micros":
            field = {**field, "type": "long"}
            micros.append(field["name"])
        fields.append(field)
    return {**raw, "fields": fields}, tuple(micros)


def parse_schema(raw: Any) -> dict[str, Any]:
    """``raw`` parsed by fastavro *with* its parsed-schema hint, so readers never re-parse it."""
    parsed = fastavro.parse_schema(raw)
    if not isinstance(parsed, dict):
        raise ValueError("a record schema must be a JSON object")
    return parsed


@dataclass(frozen=True, slots=True)
class StoredSchema:
    """One schema file: its full name, version, raw and parsed forms and fingerprints."""

    name: str
    version: int
    path: Path
    raw: dict[str, Any]
    parsed: dict[str, Any]
    #: CRC-64-AVRO of the spec's canonical form; what this package writes.
    fingerprint: bytes
    #: Every fingerprint a producer may write for this schema (spec, Apache Python's form).
    fingerprints: tuple[bytes, ...]
    #: ``parsed`` with top-level ``timestamp-micros`` fields read as plain longs (faster) ...
    fast_parsed: dict[str, Any]
    #: ... and the names of those fields, which the codec turns into datetimes itself.
    micros_fields: tuple[str, ...]

    @property
    def json(self) -> str:
        """The schema as compact JSON text, as registered with a schema registry."""
        return json.dumps(self.raw, separators=(",", ":"), ensure_ascii=False)


class SchemaStore:
    """Every schema of a folder, looked up by fingerprint or by (name, version)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._by_fp: dict[bytes, StoredSchema] = {}
        self._by_name: dict[str, dict[int, StoredSchema]] = {}
        for path in sorted(folder.glob("*.avsc")):
            match = _FILE.match(path.name)
            if match is None:
                raise ValueError(f"{path}: schema file names must be <namespace>.<Name>.v<N>.avsc")
            raw = json.loads(path.read_text(encoding="utf-8"))
            spec = crc64_avro(parsing_canonical_form(raw).encode("utf-8"))
            apache = crc64_avro(
                parsing_canonical_form(raw, keep_logical_wrappers=True).encode("utf-8")
            )
            fingerprints = (spec,) if apache == spec else (spec, apache)
            plain, micros = _without_micros(raw)
            stored = StoredSchema(
                name=match["name"],
                version=int(match["version"]),
                path=path,
                raw=raw,
                parsed=parse_schema(raw),
                fingerprint=spec,
                fingerprints=fingerprints,
                fast_parsed=parse_schema(plain),
                micros_fields=micros,
            )
            full = _fullname(raw["name"], raw.get("namespace", ""))
            if full != stored.name:
                raise ValueError(f"{path}: file is named for {stored.name} but defines {full}")
            for fp in fingerprints:
                self._by_fp[fp] = stored
            self._by_name.setdefault(stored.name, {})[stored.version] = stored

    def by_fingerprint(self, fingerprint: bytes) -> StoredSchema | None:
        """The schema whose CRC-64-AVRO fingerprint is ``fingerprint``, if shipped."""
        return self._by_fp.get(fingerprint)

    def get(self, name: str, version: int | None = None) -> StoredSchema:
        """A record's schema at ``version``, or its latest version."""
        versions = self._by_name.get(name)
        if not versions:
            raise KeyError(f"no schema named {name!r} in {self.folder}")
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise KeyError(f"{name} has no version {version} in {self.folder}")
        return versions[version]

    def versions(self, name: str) -> list[StoredSchema]:
        """All versions of a record, oldest first."""
        return [v for _, v in sorted(self._by_name.get(name, {}).items())]

    def names(self) -> list[str]:
        """Full names of every record with at least one schema file."""
        return sorted(self._by_name)


@cache
def default_store() -> SchemaStore:
    """The schemas shipped with this package (``schemas/avro/`` of the repository)."""
    folder = resources.files("taskfactory_contracts") / "avro"
    return SchemaStore(Path(str(folder)))
