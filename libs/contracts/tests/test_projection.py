"""The projection fast path reads exactly what fastavro's schema resolution reads."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from taskfactory_contracts import (
    ENVELOPE,
    AvroCodec,
    Envelope,
    MalformedRecordError,
    default_store,
)
from taskfactory_contracts.projection import plan_projection

V1 = default_store().get(ENVELOPE, 1)
V2 = default_store().get(ENVELOPE, 2)


def _read(value: bytes, writer: dict[str, Any], reader: dict[str, Any] | None) -> Any:
    stream = io.BytesIO(value)
    stream.seek(10)
    return fastavro.schemaless_reader(stream, writer, reader)


@pytest.mark.parametrize(("writer", "reader"), [(V1, V2), (V2, V1)])
def test_projection_equals_fastavro_resolution(
    codec: AvroCodec, envelope: Envelope, writer: Any, reader: Any
) -> None:
    value = codec.encode_single_object(ENVELOPE, envelope, version=writer.version)
    projection = plan_projection(writer.raw, reader.raw)
    assert projection is not None

    fast = projection.apply(_read(value, writer.parsed, None))

    assert fast == _read(value, writer.parsed, reader.parsed)


def test_defaults_are_fresh_per_record() -> None:
    projection = plan_projection(V1.raw, V2.raw)
    assert projection is not None
    first = projection.apply({f["name"]: None for f in V1.raw["fields"]})
    first["extensions"]["x"] = "y"
    second = projection.apply({f["name"]: None for f in V1.raw["fields"]})
    assert second["extensions"] == {}


def _changed(field: str, **change: Any) -> dict[str, Any]:
    raw = copy.deepcopy(V2.raw)
    for f in raw["fields"]:
        if f["name"] == field:
            f.update(change)
    return raw


@pytest.mark.parametrize(
    "reader",
    [
        _changed("tenant", type="string", default=""),  # type changed: needs resolution
        _changed("time", type="long"),  # logical type dropped
        _changed("extensions", name="ext", aliases=["extensions"]),  # renamed through alias
        {**V2.raw, "name": "Other"},
    ],
)
def test_no_projection_where_resolution_does_more(reader: dict[str, Any]) -> None:
    assert plan_projection(V2.raw, reader) is None


def test_codec_falls_back_to_fastavro_when_no_projection(envelope: Envelope) -> None:
    # A registry schema whose tenant is a plain string: resolution promotes it into the union.
    raw = copy.deepcopy(V1.raw)
    for f in raw["fields"]:
        if f["name"] == "tenant":
            f["type"] = "string"
            del f["default"]
    text = json.dumps(raw)

    class One:
        def schema_text(self, schema_id: int) -> str:
            return text

        def register(self, subject: str, schema_text: str) -> int:
            return 1

    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(raw), envelope.model_dump())
    codec = AvroCodec(registry=One())
    read = codec.decode_envelope(b"\x00\x00\x00\x00\x01" + body.getvalue())
    assert read.tenant == "acme"
    assert read.extensions == {}
    assert codec._by_schema_id[(ENVELOPE, 1)][2] is V2.parsed  # resolved by fastavro


@pytest.mark.parametrize(
    "when",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
@pytest.mark.parametrize("version", [1, 2])
def test_plain_long_fast_path_reads_times_as_fastavro_does(
    codec: AvroCodec, envelope: Envelope, when: datetime, version: int
) -> None:
    value = codec.encode_single_object(
        ENVELOPE, envelope.model_copy(update={"time": when}), version=version
    )
    writer = default_store().get(ENVELOPE, version)
    assert "time" in writer.micros_fields

    assert codec.decode_envelope(value).time == when == _read(value, writer.parsed, None)["time"]


def test_out_of_range_time_is_malformed(codec: AvroCodec) -> None:
    fast = default_store().get(ENVELOPE).fast_parsed
    record: dict[str, Any] = {f["name"]: None for f in V2.raw["fields"]}
    record.update(id="e", source="s", type="t", subject="k", time=2**62, datacontenttype="a")
    record.update(specversion="1.0", data=b"", extensions={})
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fast, record)
    with pytest.raises(MalformedRecordError, match="OverflowError"):
        codec.decode_envelope(b"\xc3\x01" + V2.fingerprint + body.getvalue())
