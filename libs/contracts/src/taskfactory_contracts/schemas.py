"""The Avro schemas shipped in ``schemas/avro/``, by record name, version and fingerprint."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import avro.errors
import avro.schema
import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

__all__ = [
    "SchemaStore",
    "StoredSchema",
    "crc64_avro",
    "default_store",
    "parse_schema",
    "parsing_canonical_form",
]

_FILE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\.v(?P<version>\d+)\.avsc$")


def crc64_avro(data: bytes) -> bytes:
    """The Avro spec's CRC-64-AVRO (Rabin) fingerprint of ``data``, as 8 little-endian bytes."""
    return bytes.fromhex(fingerprint(data.decode("utf-8"), "CRC-64-AVRO"))


def parsing_canonical_form(schema: Any, *, keep_logical_wrappers: bool = False) -> str:
    """The spec's Parsing Canonical Form of a raw (JSON-loaded) schema (fastavro's).

    ``keep_logical_wrappers`` gives the Apache ``avro`` Python package's form instead, which
    keeps ``{"type":"long"}`` for a logical-type field where the spec (and fastavro) write
    ``"long"``: its producers fingerprint that form, so the store knows both.
    """
    if keep_logical_wrappers:
        with warnings.catch_warnings():  # an unknown logical type changes no canonical form
            warnings.simplefilter("ignore", avro.errors.IgnoredLogicalType)
            form: str = avro.schema.parse(json.dumps(schema)).canonical_form
        return form
    return str(to_parsing_canonical_form(schema))


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
            full = stored.parsed["name"]  # fastavro gives the full name
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
