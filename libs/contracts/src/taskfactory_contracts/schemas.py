"""The Avro schemas shipped in ``schemas/avro/``, indexed by record name, version and fingerprint."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

__all__ = ["SchemaStore", "StoredSchema", "crc64_avro", "default_store"]

_FILE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\.v(?P<version>\d+)\.avsc$")
_EMPTY64 = 0xC15D213AA4D7A795


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


@dataclass(frozen=True, slots=True)
class StoredSchema:
    """One schema file: its full name, version, parsed form and fingerprint."""

    name: str
    version: int
    path: Path
    parsed: dict[str, Any]
    fingerprint: bytes


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
            parsed = fastavro.parse_schema(raw, _write_hint=False)
            fingerprint = crc64_avro(to_parsing_canonical_form(parsed).encode("utf-8"))
            stored = StoredSchema(
                match["name"], int(match["version"]), path, parsed, fingerprint
            )
            self._by_fp[fingerprint] = stored
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
