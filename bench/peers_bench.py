"""taskfactory against its peers, DBOS and Restate, on the same Kafka, events and machine.

Contenders, alternated round-robin for ``--repeat`` rounds so machine noise hits each alike,
each fed ``--events`` envelopes from ``ingress_bench``'s generator on a fresh 6-partition
topic after a one-event warm-up:
- ``limit``: ``ingress_bench.raw``, starts straight at Temporal (what bounds the ingress);
- ``taskfactory``: the ingress alone (``ingress_bench.ingress``): events → durably started
  runs, offsets committed;
- ``taskfactory-e2e``: ingress, orchestrator and executor (``ingress_bench.e2e``): events →
  one-task runs done, their results on the results topic;
- ``dbos``: ``@DBOS.kafka_consumer`` into a one-step workflow (PostgreSQL system database);
  accepted = workflows durably enqueued, done = workflows ``SUCCESS``;
- ``restate``: a Kafka subscription invoking a one-step handler; accepted = invocations
  ingested, done = invocations completed (``sys_invocation``).
The harness installs and starts the peers itself (``bench/peers/components.py``), stops them
at the end, writes ``bench/results/peers.json`` and the table in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ingress_bench
import report
from ingress_bench import (
    CONCURRENCY,
    KAFKA,
    _events,
    _publish,
    _summary,
    e2e,
    ingress,
    raw,
)
from peers.components import (
    HOME,
    PYTHON_PEERS,
    ROOT,
    Postgres,
    RestateServer,
    ensure_restate_server,
    ensure_venv,
    wait_until,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from taskfactory_runtime.kafka import ensure_topics
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.components import TemporalComponent
from taskfactory_stack.errors import StackError
from taskfactory_stack.leftovers import ending_leftovers
from taskfactory_stack.process import TrackedProcess, free_port, tail
from taskfactory_stack.settings import StackSettings

PEERS = Path(__file__).parent / "peers"
POLL_SECONDS = 0.2
Probe = Callable[[], Awaitable[tuple[int, int]]]


async def _measure(
    topic: str, prefix: str, n: int, probe: Probe, kafka: KafkaSettings
) -> dict[str, float]:
    """Warm up with one event, then publish ``n`` and time until all are accepted and done.

    ``probe`` returns (accepted, done) counts including the warm-up event.
    """
    await _publish(kafka, topic, _events(f"{prefix}-warm", 1))
    await _until(probe, 1, 120)
    t0 = time.perf_counter()
    await _publish(kafka, topic, _events(prefix, n))
    accepted_at, done_at = await _until(probe, n + 1, 900)
    return {"accepted": n / (accepted_at - t0), "done": n / (done_at - t0)}


async def _until(probe: Probe, target: int, timeout: float) -> tuple[float, float]:
    """Poll ``probe`` until ``target`` are done; when (perf_counter) accepted and done got there."""
    deadline = time.monotonic() + timeout
    accepted_at: float | None = None
    while True:
        accepted, done = await probe()
        now = time.perf_counter()
        if accepted_at is None and max(accepted, done) >= target:
            accepted_at = now
        if done >= target:
            assert accepted_at is not None
            return accepted_at, now
        if time.monotonic() > deadline:
            raise StackError(f"{done} of {target} done ({accepted} accepted) after {timeout:.0f}s")
        await asyncio.sleep(POLL_SECONDS)


class Peers:
    """The installed peers and their long-lived processes for one invocation."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.python = ensure_venv()
        self.postgres = Postgres()
        self.restate = RestateServer(ensure_restate_server(), kafka.bootstrap_servers)
        self.restate_app = TrackedProcess(
            "restate-app", HOME / "run" / "restate-app.pid", HOME / "logs" / "restate-app.log"
        )
        self.dbos_app = TrackedProcess(
            "dbos-app", HOME / "run" / "dbos-app.pid", HOME / "logs" / "dbos-app.log"
        )

    def start(self) -> None:
        self.postgres.start()
        self.postgres.scalar("DROP DATABASE IF EXISTS dbos_bench", database="postgres")
        self.restate.start()
        port = free_port()
        self.restate_app.log_file.unlink(missing_ok=True)
        self.restate_app.start(
            [str(self.python), str(PEERS / "restate_app.py"), str(port)], cwd=ROOT
        )
        wait_until(lambda: _listening(port), "restate app", self.restate_app.log_file)
        self.restate.register(f"http://127.0.0.1:{port}")

    def stop(self) -> None:
        for process in (self.dbos_app, self.restate_app):
            process.stop(timeout=30)
        self.restate.stop()
        self.postgres.stop()

    def versions(self) -> dict[str, str]:
        temporal = subprocess.run(
            [str(Path(sys.executable).parent / "temporal"), "--version"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        server = re.search(r"Server ([\d.]+)", temporal)
        return {
            "Temporal dev server": server.group(1) if server else "unknown",
            "Kafka": StackSettings().kafka_version,
            **dict(p.split("==") for p in PYTHON_PEERS),
            "restate-server": self.restate.version().split()[-1],
            "PostgreSQL": self.postgres.version().split("(PostgreSQL) ")[-1],
        }

    async def dbos(self, n: int) -> dict[str, float]:
        prefix = f"dbos-{uuid.uuid4().hex[:8]}"
        topic = f"{prefix}.events"
        await ensure_topics(self.kafka, [topic], partitions=6, replication_factor=1)
        self.dbos_app.log_file.unlink(missing_ok=True)
        self.dbos_app.start(
            [str(self.python), str(PEERS / "dbos_app.py")],
            env={
                **os.environ,
                "BENCH_DBOS_URL": self.postgres.url,
                "BENCH_KAFKA": self.kafka.bootstrap_servers,
                "BENCH_TOPIC": topic,
                "BENCH_GROUP": f"{prefix}-g",
            },
            cwd=ROOT,
        )
        sql = (
            "SELECT count(*), count(*) FILTER (WHERE status = 'SUCCESS') "
            f"FROM dbos.workflow_status WHERE workflow_uuid LIKE 'kafka-unique-id-{topic}-%'"
        )

        async def probe() -> tuple[int, int]:
            if self.dbos_app.pid() is None:
                raise StackError(f"dbos app exited:\n{tail(self.dbos_app.log_file)}")
            if "ready" not in tail(self.dbos_app.log_file, 50):
                return 0, 0
            accepted, done = (await asyncio.to_thread(self.postgres.scalar, sql)).split("|")
            return int(accepted), int(done)

        try:
            return await _measure(topic, prefix, n, probe, self.kafka)
        finally:
            self.dbos_app.stop(timeout=30)

    async def restate_run(self, n: int) -> dict[str, float]:
        prefix = f"rst-{uuid.uuid4().hex[:8]}"
        topic = f"{prefix}.events"
        await ensure_topics(self.kafka, [topic], partitions=6, replication_factor=1)
        subscription = self.restate.subscribe(topic, "service://BenchSink/handle")
        sql = (
            "SELECT count(*) AS accepted, "
            "sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS done "
            f"FROM sys_invocation WHERE invoked_by_subscription_id = '{subscription}'"
        )

        async def probe() -> tuple[int, int]:
            if self.restate.process.pid() is None:
                raise StackError(f"restate exited:\n{tail(self.restate.process.log_file)}")
            (row,) = await asyncio.to_thread(self.restate.query, sql)
            return int(row.get("accepted") or 0), int(row.get("done") or 0)

        try:
            return await _measure(topic, prefix, n, probe, self.kafka)
        finally:
            self.restate.unsubscribe(subscription)


def _listening(port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# The ratios with a target: events accepted as fast as DBOS accepts them; issue 17's bar for
# one-step workflows done.
TARGETS = {"taskfactory_over_dbos_accepted": 1.0, "taskfactory_e2e_over_dbos_done": 0.35}


LABELS = {
    "limit": f"limit: `start_workflow` straight at the same Temporal, {CONCURRENCY} concurrent",
    "taskfactory": "taskfactory ingress: events → runs durably started",
    "taskfactory-e2e": "taskfactory ingress + orchestrator + executor: events → one-task runs done",
    "dbos:accepted": "DBOS `@DBOS.kafka_consumer`: events → workflows durably enqueued",
    "dbos:done": "DBOS: events → one-step workflows done",
    "restate:accepted": "Restate Kafka subscription: events → invocations ingested",
    "restate:done": "Restate: events → one-step handler invocations done",
}


def _ratios(rates: dict[str, dict[str, float]]) -> dict[str, float]:
    med = {k: v["median"] for k, v in rates.items()}
    pairs = {
        "taskfactory_over_dbos_accepted": ("taskfactory", "dbos:accepted"),
        "taskfactory_e2e_over_dbos_done": ("taskfactory-e2e", "dbos:done"),
        "taskfactory_over_restate_accepted": ("taskfactory", "restate:accepted"),
        "taskfactory_e2e_over_restate_done": ("taskfactory-e2e", "restate:done"),
    }
    return {name: med[a] / med[b] for name, (a, b) in pairs.items() if a in med and b in med}


def _table(result: dict[str, Any]) -> str:
    lines = [
        report.heading({**result, "versions": result["peer_versions"]})
        + f" {result['events']} events per run, {result['repeat']} rounds. "
        + (
            "Temporal: a fresh dev server of the bench's own. "
            if result["temporal"] == "private"
            else f"Temporal: {result['temporal']}."
        ),
        "",
        "| contender | events / s, median | min to max |",
        "|---|---:|---:|",
    ]
    for key, summary in result["rates_per_s"].items():
        label = LABELS.get(key, key)
        if key == "taskfactory-e2e" and result["e2e_events"] != result["events"]:
            label += f" ({result['e2e_events']} events per run)"
        lines.append(
            f"| {label} | {summary['median']:.0f} | {summary['min']:.0f} to {summary['max']:.0f} |"
        )
    lines.append("")
    if result["failed_runs"]:
        lines.append(f"- failed runs (left out of the medians): {'; '.join(result['failed_runs'])}")
    if result["ingress_cpu_ms_per_event"] is not None:
        lines.append(
            f"- taskfactory ingress CPU per event (its own process, median): "
            f"{result['ingress_cpu_ms_per_event']:.2f} ms"
        )
    for name, value in result["ratios"].items():
        goal = TARGETS.get(name)
        target = (
            ""
            if goal is None
            else f" (target ≥ {goal}: " + ("met" if value >= goal else "not met") + ")"
        )
        lines.append(f"- {name.replace('_', ' ')} = **{value:.2f}**" + target)
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--contenders", default="limit,taskfactory,taskfactory-e2e,dbos,restate")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "peers.json"
    )
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    parser.add_argument(
        "--e2e-events",
        type=int,
        default=0,
        help="events per taskfactory-e2e run (0, the default: --events, the same workload as "
        "every other contender)",
    )
    parser.add_argument(
        "--temporal",
        default="private",
        help="'private' (default): a fresh Temporal dev server of the bench's own, as each peer "
        "gets its own fresh store; or host:port of an existing one (e.g. the stack's)",
    )
    args = parser.parse_args()
    e2e_events = args.e2e_events or args.events
    contenders = [c for c in args.contenders.split(",") if c]
    kafka = KafkaSettings(bootstrap_servers=KAFKA)
    started, load_before = datetime.now(UTC), report.load()
    temporal = None
    if args.temporal == "private":
        temporal = TemporalComponent(
            StackSettings(
                dir=HOME / "temporal",
                temporal_port=free_port(),
                temporal_ui_port=free_port(),
                jaeger=False,
            )
        )
        # ingress_bench's services and raw starts read its module-level address.
        ingress_bench.TEMPORAL = temporal.address
    elif args.temporal:
        ingress_bench.TEMPORAL = args.temporal
    peers = Peers(kafka)
    rates: dict[str, list[float]] = {}
    failures: list[str] = []
    ingress_cpu: list[float] = []
    try:
        if temporal is not None:
            # A fresh database, as each peer starts from a fresh store.
            shutil.rmtree(temporal.settings.root / "temporal", ignore_errors=True)
            await asyncio.to_thread(temporal.up)
        client = await Client.connect(
            ingress_bench.TEMPORAL, data_converter=pydantic_data_converter
        )
        peers.start()
        versions = peers.versions()
        async with ending_leftovers(client, [ingress_bench.MARK], who="peers_bench"):
            with tempfile.TemporaryDirectory() as tmpdir:
                tmp = Path(tmpdir)
                runs: dict[str, Callable[[], Awaitable[dict[str, float]]]] = {
                    "limit": lambda: _single(raw(client, args.events, tmp)),
                    "taskfactory": lambda: _single(
                        ingress(kafka, client, args.events, tmp, [], cpu_per_event=ingress_cpu)
                    ),
                    "taskfactory-e2e": lambda: _single(e2e(kafka, client, e2e_events, tmp, [])),
                    "dbos": lambda: peers.dbos(args.events),
                    "restate": lambda: peers.restate_run(args.events),
                }
                for round_ in range(args.repeat):
                    for contender in contenders:
                        began = time.monotonic()
                        try:
                            measured = await runs[contender]()
                        except Exception as exc:  # one failed run is reported, the others go on
                            failures.append(f"round {round_ + 1}, {contender}: {exc!r}"[:500])
                            print(f"  {contender}: FAILED {exc!r}", flush=True)
                            continue
                        for kind, rate in measured.items():
                            key = contender if kind == "rate" else f"{contender}:{kind}"
                            rates.setdefault(key, []).append(rate)
                        print(f"  {contender}: {time.monotonic() - began:.0f}s", flush=True)
                    print(
                        f"round {round_ + 1}: "
                        + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rates.items() if v),
                        flush=True,
                    )
    finally:
        peers.stop()
        if temporal is not None:
            temporal.process.stop(timeout=30)
    summaries = {k: _summary(v) for k, v in rates.items()}
    figures: dict[str, Any] = {
        "peer_versions": {**report.versions(), **versions},
        "temporal": "private" if temporal is not None else ingress_bench.TEMPORAL,
        "events": args.events,
        "e2e_events": e2e_events,
        "repeat": args.repeat,
        "rates_per_s": summaries,
        "ratios": _ratios(summaries),
        "samples": rates,
        "failed_runs": failures,
        "ingress_cpu_ms_per_event": statistics.median(ingress_cpu) * 1000 if ingress_cpu else None,
    }
    report.record("peers", figures, _table, started, load_before, args)


async def _single(rate: Awaitable[float]) -> dict[str, float]:
    return {"rate": await rate}


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
