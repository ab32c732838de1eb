"""Soak: a steady stream through all three services for a long time, memory sampled throughout.

Publishes ``--rate`` events/s for ``--minutes`` through ingress → orchestrator → executor (the
one-task bench definition, private topics and queues), samples each service's RSS every
``--sample-seconds``, then waits until every event has its result. Reports, per service, RSS
after the first minute, at the end and at most, and the least-squares growth in MiB per hour
after the first minute, and writes ``bench/results/soak.json`` and the Soak table of
``bench/README.md``. Exits 1 if a result is missing.
Needs the local stack (``make soak`` starts it).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import report
from aiokafka import AIOKafkaProducer
from ingress_bench import KAFKA, MARK, TEMPORAL, Rig, _events, _proc, _results
from temporalio.client import Client

from taskfactory_contracts import AvroCodec
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.leftovers import ending_leftovers


def _slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per hour."""
    if len(points) < 2:
        return 0.0
    slope, _ = statistics.linear_regression([t for t, _ in points], [m for _, m in points])
    return slope * 3600


async def soak(minutes: float, rate: float, sample_seconds: float) -> dict[str, Any]:
    kafka = KafkaSettings(bootstrap_servers=KAFKA)
    client = await Client.connect(TEMPORAL)
    async with ending_leftovers(client, [MARK], who="soak"):
        with tempfile.TemporaryDirectory() as tmpdir:
            rig = Rig(kafka, Path(tmpdir), "soak")
            await rig.topics()
            pids = {name: rig.start((name,))[0] for name in ("orchestrator", "executor", "ingress")}
            producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
            await producer.start()
            codec = AvroCodec()
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
            sent = 0
            try:
                # Warm up: one event through every service before the clock starts.
                await producer.send_and_wait(
                    rig.topic, codec.encode_envelope(_events(f"{rig.prefix}-warm", 1)[0]), key=b"w"
                )
                await _results(kafka, rig.results, 1, timeout=120)
                t0 = time.monotonic()
                next_sample = t0
                while (elapsed := time.monotonic() - t0) < minutes * 60:
                    due = int(elapsed * rate) + 1
                    for event in _events(rig.prefix, due - sent, start=sent):
                        await producer.send(
                            rig.topic, codec.encode_envelope(event), key=event.subject.encode()
                        )
                    sent = max(sent, due)
                    if time.monotonic() >= next_sample:
                        for name, pid in pids.items():
                            samples[name].append((elapsed, _proc(pid)[1] / 2**20))
                        next_sample += sample_seconds
                        print(
                            f"{elapsed / 60:5.1f} min, {sent} sent, RSS MiB "
                            + ", ".join(f"{n} {s[-1][1]:.0f}" for n, s in samples.items()),
                            flush=True,
                        )
                    await asyncio.sleep(0.05)
                await producer.flush()
                await _results(kafka, rig.results, sent + 1, timeout=600)
                peaks = {name: _proc(pid)[2] / 2**20 for name, pid in pids.items()}
            finally:
                await producer.stop()
                rig.stop()
    steady = {name: [(t, m) for t, m in s if t >= 60] or s for name, s in samples.items()}
    return {
        "minutes": minutes,
        "rate_per_s": rate,
        "events": sent,
        "results": "all",
        "rss_mib": {
            name: {
                "after_1_min": steady[name][0][1],
                "end": samples[name][-1][1],
                "peak": peaks[name],
                "growth_mib_per_hour": _slope_per_hour(steady[name]),
            }
            for name in pids
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=3, help="events per second")
    parser.add_argument("--sample-seconds", type=float, default=30)
    parser.add_argument("--out", type=Path, default=report.RESULTS / "soak.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args()
    started, load_before = datetime.now(UTC), report.load()
    # SIGTERM (e.g. `timeout`) unwinds like Ctrl-C, so the services started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        result = asyncio.run(soak(args.minutes, args.rate, args.sample_seconds))
    except RuntimeError as exc:  # a missing result: the soak failed
        print(f"soak failed: {exc}", file=sys.stderr)
        return 1
    report.record("soak", result, _table, started, load_before, args, show_json=True)
    return 0


def _table(result: dict[str, Any]) -> str:
    lines = [
        report.heading(result) + f" {result['events']} events at {result['rate_per_s']:g}/s for "
        f"{result['minutes']:g} minutes, every result published.",
        "",
        "| service | RSS after 1 min | at the end | peak | growth |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rss in result["rss_mib"].items():
        lines.append(
            f"| {name} | {rss['after_1_min']:.0f} MiB | {rss['end']:.0f} MiB "
            f"| {rss['peak']:.0f} MiB | {rss['growth_mib_per_hour']:.0f} MiB/h |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
