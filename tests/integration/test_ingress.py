"""The ingress against the real broker and Temporal: effectively once, dead letters, replay."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import Topics
from temporalio.client import Client

from taskfactory_contracts import AvroCodec, Envelope, names
from taskfactory_runtime.kafka import committed_offsets_total as committed_total
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import (
    Record,
    consume,
    echo_definition,
    envelope,
    produce,
    produce_envelopes,
)
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def _runs(client: Client, uid: str) -> int:
    return (await client.count_workflows(f"WorkflowId STARTS_WITH '{uid}/'")).count


async def _has_runs(client: Client, uid: str, n: int) -> bool:
    # Visibility is eventually consistent: wait for the count rather than read it once.
    return await _runs(client, uid) == n


async def test_a_thousand_events_on_six_partitions_start_a_thousand_runs_once(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    (services.definitions / "ingest.yaml").write_text(echo_definition("ingest", uid))
    services.start(only=("ingress",))
    events = [envelope(i, uid=uid, subject=f"key-{i % 100}") for i in range(1000)]
    await produce_envelopes(kafka_settings, topics.events, events)

    async def committed(n: int) -> bool:
        return await committed_total(kafka_settings, services.group, topics.events) == n

    await wait_for(lambda: committed(1000), timeout=120, what="1000 committed offsets")
    await wait_for(lambda: _has_runs(temporal_client, uid, 1000), timeout=60, what="1000 runs")
    assert await services.metric("ingress", "taskfactory_ingress_started_total") == 1000

    # The same thousand again: every one a counted duplicate, not a second run.
    await produce_envelopes(kafka_settings, topics.events, events)
    await wait_for(lambda: committed(2000), timeout=120, what="2000 committed offsets")
    assert await services.metric("ingress", "taskfactory_ingress_duplicates_total") == 1000
    assert await services.metric("ingress", "taskfactory_ingress_started_total") == 1000
    assert await _runs(temporal_client, uid) == 1000


async def test_poison_records_are_dead_lettered_with_original_bytes_and_replay_after_a_fix(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    (services.definitions / "ingest.yaml").write_text(echo_definition("ingest", uid))
    services.env["TASKFACTORY_INGRESS__MAX_RECORD_BYTES"] = "2000"
    services.start(only=("ingress",))
    codec = AvroCodec()
    valid = [envelope(i, uid=uid) for i in range(10)]
    oversize = envelope(99, uid=uid, data=b"x" * 5000)
    invalid = codec.encode_envelope(Envelope.model_construct(**{**valid[0].model_dump(), "id": ""}))
    origin = [("x-origin", b"upstream-7")]
    poison = {
        "malformed": (b"k-garbage", b"definitely not avro"),
        "unknown_schema": (b"k-unknown", b"\xc3\x01" + bytes(range(8)) + b"\x02\x04"),
        "invalid": (b"k-invalid", invalid),
        "too_large": (b"k-large", codec.encode_envelope(oversize)),
    }
    records: list[Record] = [(k, v, origin) for k, v in poison.values()]
    records += [(e.subject.encode(), codec.encode_envelope(e), []) for e in valid]
    await produce(kafka_settings, topics.events, records)

    async def committed(n: int) -> bool:
        return await committed_total(kafka_settings, services.group, topics.events) == n

    await wait_for(lambda: committed(14), timeout=60, what="all 14 offsets committed")
    dead = await consume(kafka_settings, topics.dead_letter, at_least=4, timeout=30)
    by_reason = {dict(r.headers)[names.HEADER_ERROR_TYPE].decode(): r for r in dead}
    assert set(by_reason) == set(poison)
    for reason, (key, value) in poison.items():
        record = by_reason[reason]
        headers = dict(record.headers)
        assert (record.key, record.value) == (key, value)  # the original bytes
        assert headers["x-origin"] == b"upstream-7"  # original headers kept
        assert headers[names.HEADER_SOURCE_TOPIC] == topics.events.encode()
        assert headers[names.HEADER_ERROR_MESSAGE]
    assert b"limit is 2000" in dict(by_reason["too_large"].headers)[names.HEADER_ERROR_MESSAGE]
    await wait_for(lambda: _has_runs(temporal_client, uid, 10), timeout=30, what="10 runs")
    assert await services.metric("ingress", "taskfactory_ingress_dead_lettered_total") == 4

    # The fix: a larger limit. Replaying the too-large letter starts it exactly once, even twice.
    services.set.stop()
    services.env["TASKFACTORY_INGRESS__MAX_RECORD_BYTES"] = "1048576"
    services.start(only=("ingress",))
    env = {**os.environ, **services.env}
    for n in (15, 16):
        replay = subprocess.run(  # noqa: ASYNC221 - a CLI run, nothing else to do meanwhile
            [
                sys.executable,
                "-m",
                "taskfactory_runtime.cli",
                "dlq",
                "replay",
                "--error-type",
                "too_large",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert replay.returncode == 0, replay.stderr
        assert "replayed 1 of 4 dead letters" in replay.stdout
        await wait_for(lambda n=n: committed(n), timeout=60, what=f"{n} committed offsets")  # type: ignore[misc]
    await wait_for(lambda: _has_runs(temporal_client, uid, 11), timeout=30, what="11 runs")
    listing = subprocess.run(  # noqa: ASYNC221
        [sys.executable, "-m", "taskfactory_runtime.cli", "dlq", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listing.returncode == 0
    assert f"{topics.events}/" in listing.stdout
    assert "\tmalformed\t" in listing.stdout
