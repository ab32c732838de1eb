"""The CloudEvents Kafka protocol binding: binary mode (``ce_*`` headers) and structured JSON.

Functions here turn a Kafka record into the envelope's field dict (validated by the codec)
and an envelope into a record. Envelope ``correlation_id`` / ``causation_id`` travel as the
CloudEvents-legal extension names ``correlationid`` / ``causationid``; other extensions go to
``Envelope.extensions``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from taskfactory_contracts.errors import (
    MalformedRecordError,
    NotStrictJsonError,
    SchemaValidationError,
)
from taskfactory_contracts.event_data import strict_loads
from taskfactory_contracts.records import Envelope

__all__ = [
    "CE_HEADER_PREFIX",
    "STRUCTURED_CONTENT_TYPE",
    "Headers",
    "envelope_fields_from_binary",
    "envelope_fields_from_structured",
    "header_value",
    "is_binary_mode",
    "is_structured_mode",
    "to_binary",
    "to_structured",
]

Headers = Sequence[tuple[str, bytes | None]]
CE_HEADER_PREFIX = "ce_"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
_CONTENT_TYPE = "content-type"
_RENAMED = {"correlationid": "correlation_id", "causationid": "causation_id"}
_FIELDS = frozenset(Envelope.model_fields) - {"extensions", "data"}


def header_value(headers: Headers | None, name: str) -> str | None:
    """The last value of header ``name`` (case-insensitive) decoded as UTF-8, if present."""
    found: str | None = None
    for key, raw in headers or ():
        if key.lower() == name and raw is not None:
            try:
                found = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedRecordError(f"header is not UTF-8: {exc}", where=key) from exc
    return found


def is_binary_mode(headers: Headers | None) -> bool:
    """Whether the record carries CloudEvents attributes as ``ce_*`` headers."""
    return any(key.lower() == "ce_specversion" for key, _ in headers or ())


def is_structured_mode(headers: Headers | None, value: bytes) -> bool:
    """Whether the record is one structured-mode CloudEvent (JSON) in the value."""
    content_type = header_value(headers, _CONTENT_TYPE) or ""
    if content_type.split(";")[0].strip().lower() == STRUCTURED_CONTENT_TYPE:
        return True
    return not content_type and value[:1] == b"{"


def _attribute(fields: dict[str, Any], name: str, value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise MalformedRecordError(
            f"attribute must be a string, got {type(value).__name__}", where=where
        )
    if name in _RENAMED:
        fields[_RENAMED[name]] = value
    elif name in _FIELDS:
        fields[name] = value
    else:
        fields.setdefault("extensions", {})[name] = value


def envelope_fields_from_binary(headers: Headers, value: bytes) -> dict[str, Any]:
    """Envelope fields of a binary-mode record: attributes from headers, data = ``value``."""
    fields: dict[str, Any] = {"data": value}
    for key, raw in headers:
        lower = key.lower()
        if not lower.startswith(CE_HEADER_PREFIX) or raw is None:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRecordError(f"header is not UTF-8: {exc}", where=key) from exc
        _attribute(fields, lower[len(CE_HEADER_PREFIX) :], text, key)
    content_type = header_value(headers, _CONTENT_TYPE)
    if content_type is not None:
        fields["datacontenttype"] = content_type
    return fields


def _is_json(content_type: object) -> bool:
    if content_type is not None and not isinstance(content_type, str):
        raise MalformedRecordError(
            f"attribute must be a string, got {type(content_type).__name__}",
            where="value.datacontenttype",
        )
    media = (content_type or "application/json").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def envelope_fields_from_structured(value: bytes) -> dict[str, Any]:
    """Envelope fields of a structured-mode record (one CloudEvent as a JSON object)."""
    try:
        # Strict: a duplicate key would otherwise let its last copy win unseen (a second
        # "amount" in data), and NaN/Infinity are not JSON.
        document = strict_loads(value)
    except NotStrictJsonError as exc:
        raise SchemaValidationError(f"not strict JSON: {exc}", where="value") from exc
    except (ValueError, RecursionError) as exc:
        raise MalformedRecordError(
            f"not a structured CloudEvent (JSON): {exc}", where="value"
        ) from exc
    if not isinstance(document, dict):
        raise MalformedRecordError("a structured CloudEvent must be a JSON object", where="value")
    fields: dict[str, Any] = {}
    data: bytes = b""
    for name, item in document.items():
        if name == "data_base64":
            if not isinstance(item, str):
                raise MalformedRecordError(
                    "data_base64 must be a string", where="value.data_base64"
                )
            try:
                data = base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MalformedRecordError(f"not base64: {exc}", where="value.data_base64") from exc
        elif name == "data":
            try:
                if isinstance(item, str) and not _is_json(document.get("datacontenttype")):
                    data = item.encode("utf-8")
                else:
                    data = json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
            except UnicodeEncodeError as exc:
                raise SchemaValidationError(
                    f"not valid Unicode: lone surrogate at position {exc.start}",
                    where="value.data",
                ) from exc
            except RecursionError as exc:
                raise SchemaValidationError(
                    "data is nested too deeply", where="value.data"
                ) from exc
        elif item is not None:
            _attribute(fields, name, item, f"value.{name}")
    fields["data"] = data
    return fields


def _attributes(envelope: Envelope) -> dict[str, str]:
    out: dict[str, str] = {
        "specversion": envelope.specversion,
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "subject": envelope.subject,
        "time": _rfc3339(envelope.time),
    }
    optional = {
        "dataschema": envelope.dataschema,
        "tenant": envelope.tenant,
        "correlationid": envelope.correlation_id,
        "causationid": envelope.causation_id,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    out.update(envelope.extensions)
    return out


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def to_binary(envelope: Envelope) -> tuple[list[tuple[str, bytes]], bytes]:
    """Headers and value of ``envelope`` as a binary-mode CloudEvents Kafka record."""
    headers = [(f"{CE_HEADER_PREFIX}{k}", v.encode()) for k, v in _attributes(envelope).items()]
    headers.append((_CONTENT_TYPE, envelope.datacontenttype.encode()))
    return headers, envelope.data


def to_structured(envelope: Envelope) -> tuple[list[tuple[str, bytes]], bytes]:
    """Headers and value of ``envelope`` as a structured-mode (JSON) CloudEvents record."""
    document: dict[str, Any] = dict(_attributes(envelope))
    document["datacontenttype"] = envelope.datacontenttype
    parsed: Any = None
    if _is_json(envelope.datacontenttype) and envelope.data:
        try:
            parsed = json.loads(envelope.data)
        except ValueError:
            parsed = None
    if parsed is not None:
        document["data"] = parsed
    elif envelope.data:
        document["data_base64"] = base64.b64encode(envelope.data).decode("ascii")
    headers = [(_CONTENT_TYPE, f"{STRUCTURED_CONTENT_TYPE}; charset=utf-8".encode())]
    return headers, json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
