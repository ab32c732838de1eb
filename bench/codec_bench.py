"""Codec benchmark: envelopes decoded and validated per second on one core, per wire format.

Run with ``make bench`` (or ``uv run --frozen python bench/codec_bench.py``). Each format is
timed for about a second of CPU per round, rounds going round-robin over the formats; each
keeps its best of ``--rounds`` rounds. Rates are per CPU-second of this single-threaded process
(``time.process_time``), i.e. per core, so other work on the machine lowers them less than it
would lower wall-clock rates. Writes ``bench/results/codec.json`` and the Codec table of
``bench/README.md``. Not part of the test run.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import report

from taskfactory_contracts import ENVELOPE, AvroCodec, Envelope
from taskfactory_contracts.cloudevents_kafka import to_binary, to_structured
from taskfactory_contracts.confluent import InMemorySchemaRegistry, SchemaRegistry

TARGET = 50_000


def _envelope() -> Envelope:
    return Envelope(
        id="0b7c6f1e-4d3a-4e59-9b0e-5d2f7a1c9e42",
        source="svc://loans/api",
        type="com.example.loan.requested",
        subject="loan-4242",
        time=datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC),
        tenant="acme",
        correlation_id="corr-17",
        data=json.dumps({"amount": 125_000, "currency": "EUR", "term_months": 240}).encode(),
        extensions={"partitionkey": "loan-4242"},
    )


def _previous_codec(value: bytes) -> Callable[[], object]:
    """The decode path before this benchmark existed: schemas parsed without fastavro's hint
    (so re-parsed per record) and the reader schema always passed. A yardstick that suffers
    the same machine load as the figures it is printed beside."""
    schema = fastavro.parse_schema(AvroCodec().store.get(ENVELOPE).raw, _write_hint=False)

    def decode() -> object:
        stream = io.BytesIO(value)
        stream.seek(10)
        return Envelope.model_validate(fastavro.schemaless_reader(stream, schema, schema))

    return decode


def _rate(decode: Callable[[], object], seconds: float) -> float:
    count, started = 0, time.process_time()
    deadline = started + seconds
    while time.process_time() < deadline:
        for _ in range(1000):
            decode()
        count += 1000
    return count / (time.process_time() - started)


def main() -> None:
    """Print one line per wire format and a verdict against the single-object target."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=report.RESULTS / "codec.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args()
    started, load_before = datetime.now(UTC), report.load()

    envelope = _envelope()
    codec = AvroCodec()
    registry: SchemaRegistry = InMemorySchemaRegistry()
    confluent = AvroCodec(registry=registry)
    single = codec.encode_envelope(envelope)
    single_v1 = codec.encode_single_object(
        ENVELOPE, envelope.model_copy(update={"extensions": {}}), version=1
    )
    framed = confluent.encode_envelope(envelope)
    b_headers, b_value = to_binary(envelope)
    s_headers, s_value = to_structured(envelope)
    cases: dict[str, Callable[[], object]] = {
        "single-object Avro (v2 writer, v2 reader)": lambda: codec.decode_envelope(single),
        "single-object Avro (v1 writer, v2 reader)": lambda: codec.decode_envelope(single_v1),
        "Confluent wire format (cached schema id)": lambda: confluent.decode_envelope(framed),
        "CloudEvents binary mode (ce_* headers)": lambda: codec.decode_envelope(b_value, b_headers),
        "CloudEvents structured mode (JSON)": lambda: codec.decode_envelope(s_value, s_headers),
        "encode single-object Avro": lambda: codec.encode_envelope(envelope),
        "yardstick: the previous single-object decode": _previous_codec(single),
    }
    for decode in cases.values():
        decode()  # warm caches; also proves every input decodes
    # Rounds go round-robin over the cases, so a burst of other load on the machine hits
    # every case alike; each case keeps its best round.
    results = dict.fromkeys(cases, 0.0)
    for _ in range(args.rounds):
        for name, decode in cases.items():
            results[name] = max(results[name], _rate(decode, args.seconds))
    width = max(map(len, results))
    for name, rate in results.items():
        print(f"{name:<{width}}  {rate:>10,.0f} envelopes per CPU-second")
    headline = results["single-object Avro (v2 writer, v2 reader)"]
    speedup = headline / results["yardstick: the previous single-object decode"]
    verdict = "meets" if headline >= TARGET else "MISSES"
    print(f"single-object decode+validate {verdict} the {TARGET:,}/s/core target")
    print(f"single-object decode+validate is {speedup:.2f}x the previous decode path")
    figures: dict[str, Any] = {
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "envelopes_per_cpu_second": results,
        "target": TARGET,
        "target_met": headline >= TARGET,
        "over_yardstick": speedup,
    }
    report.record("codec", figures, _table, started, load_before, args)


def _thousands(value: float) -> str:
    return f"{round(value):,}".replace(",", " ")


def _table(result: dict[str, Any]) -> str:
    rates: dict[str, float] = result["envelopes_per_cpu_second"]
    lines = [
        report.heading(result)
        + f" Best of {result['rounds']} rounds of {result['seconds_per_round']} s CPU.",
        "",
        "| wire format | envelopes / s / core |",
        "|---|---:|",
        *(f"| {name} | {_thousands(rate)} |" for name, rate in rates.items()),
        "",
        f"- single-object Avro decode + validate: target ≥ {_thousands(result['target'])}/s/core: "
        + ("**met**" if result["target_met"] else "**not met**"),
        f"- {result['over_yardstick']:.2f} times the previous decode path (the yardstick)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
