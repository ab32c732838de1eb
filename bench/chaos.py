"""``make chaos``: every fault, one after another, against a private Kafka and Temporal.

It starts its own Kafka broker (KRaft) and Temporal dev server on free ports in a temporary
folder (never the shared stack on 9092/7233, since it stops and restarts them), then runs each
fault scenario of ``taskfactory_stack.chaos`` with ``--events`` events: the same code the
chaos tests run with fewer. Each scenario counts runs, results per task, dead letters and the
ingress group's lag, and times the recovery (fault cleared → lag zero and every result).
Writes ``bench/results/chaos.json`` and prints the table for ``bench/README.md``.

``--cluster`` (``make chaos-cluster``) runs the faults only a cluster has instead, on the local
stack's cluster profile (three brokers, Temporal on PostgreSQL; started if not running, stopped
afterwards if it was started here): ``bench/results/chaos-cluster.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import report as provenance
from temporalio.client import Client

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.chaos.cluster_faults import CLUSTER_FAULTS
from taskfactory_stack.chaos.faults import FAULTS
from taskfactory_stack.chaos.target import Outcome, Target, private_kafka, private_temporal
from taskfactory_stack.leftovers import ending_leftovers, new_mark

#: What every id, topic and task queue of this run's scenarios starts with.
MARK = new_mark("c")


def table(outcomes: list[Outcome]) -> str:
    """The markdown table of the README's Chaos section."""
    rows = [
        "| fault | events | fault lasted s | runs | results | lost | duplicated | DLQ "
        "| lag after | recovery s | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        recovery = "—" if o.recovery_seconds is None else f"{o.recovery_seconds:.1f}"
        verdict = "ok" if not o.problems() else "**FAIL**: " + "; ".join(o.problems())
        rows.append(
            f"| {o.fault} | {o.events} | {o.fault_seconds:.1f} | {o.runs} | {o.results} "
            f"| {o.lost} | {o.duplicated} | {o.dead_letters} | {o.lag} | {recovery} | {verdict} |"
        )
    return "\n".join(rows)


async def _each(target: Target, events: int, faults: list[str]) -> list[Outcome]:
    catalogue = {**FAULTS, **CLUSTER_FAULTS}
    outcomes: list[Outcome] = []
    for name in faults:
        began = time.monotonic()
        try:
            outcome = await catalogue[name](target, events)
        except Exception as exc:  # one broken scenario must not hide the others' results
            traceback.print_exc()
            outcome = Outcome(name, events, notes=[f"{type(exc).__name__}: {exc}"])
        outcomes.append(outcome)
        verdict = "ok" if not outcome.problems() else "FAIL " + "; ".join(outcome.problems())
        print(
            f"  {name:<22} {time.monotonic() - began:6.0f}s  recovery "
            f"{outcome.recovery_seconds}s  lost {outcome.lost} dup {outcome.duplicated}  "
            f"{verdict}",
            flush=True,
        )
    return outcomes


async def run_cluster(
    events: int, faults: list[str], workdir: Path, patience: float
) -> list[Outcome]:
    """The cluster faults on the local stack's cluster profile."""
    from taskfactory_stack.settings import StackSettings
    from taskfactory_stack.stack import Stack

    stack = Stack(StackSettings(profile="cluster"))
    print("chaos: the cluster profile …", flush=True)
    started = await asyncio.to_thread(stack.up)
    try:
        target = Target(
            KafkaSettings(bootstrap_servers=stack.kafka_bootstrap),
            stack.temporal_address,
            workdir / "worlds",
            mark=MARK,
            patience=patience,
            replication_factor=stack.replication_factor,
            cluster=stack.components,
        )
        # The cluster profile's Temporal outlives this run: end what a failed scenario left.
        client = await Client.connect(stack.temporal_address)
        async with ending_leftovers(client, [MARK], who="chaos-cluster"):
            return await _each(target, events, faults)
    finally:
        if started:
            await asyncio.to_thread(stack.down)


async def run(events: int, faults: list[str], workdir: Path, patience: float) -> list[Outcome]:
    kafka = private_kafka(workdir / "stack")
    temporal = private_temporal(workdir / "stack")
    outcomes: list[Outcome] = []
    try:
        print(f"chaos: private Kafka {kafka.address} and Temporal {temporal.address} …", flush=True)
        await asyncio.to_thread(kafka.up)
        await asyncio.to_thread(temporal.up)
        target = Target(
            KafkaSettings(bootstrap_servers=kafka.address),
            temporal.address,
            workdir / "worlds",
            mark=MARK,
            kafka_component=kafka,
            temporal_component=temporal,
            patience=patience,
        )
        outcomes = await _each(target, events, faults)
    finally:
        await asyncio.to_thread(temporal.down)
        await asyncio.to_thread(kafka.down)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="events per fault")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help=f"the cluster faults ({','.join(CLUSTER_FAULTS)}) on the cluster profile",
    )
    parser.add_argument("--only", default="", help="comma-separated faults (default: all)")
    parser.add_argument(
        "--patience", type=float, default=120, help="seconds a scenario may take to recover"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="default results/chaos[-cluster].json"
    )
    parser.add_argument(
        "--no-readme",
        action="store_true",
        help="do not update bench/README.md (a run of only some faults never does)",
    )
    args = parser.parse_args()
    catalogue = CLUSTER_FAULTS if args.cluster else FAULTS
    faults = [f for f in args.only.split(",") if f] or list(catalogue)
    unknown = sorted(set(faults) - set(catalogue))
    if unknown:
        parser.error(
            f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(catalogue)}"
            + ("" if args.cluster else f" (with --cluster: {', '.join(CLUSTER_FAULTS)})")
        )
    name = "chaos-cluster" if args.cluster else "chaos"
    out = args.out or provenance.RESULTS / f"{name}.json"
    workdir = Path(tempfile.mkdtemp(prefix="taskfactory-chaos-"))
    started, load_before = datetime.now(UTC), provenance.load()
    t0 = time.monotonic()
    runner = run_cluster if args.cluster else run
    outcomes = asyncio.run(runner(args.events, faults, workdir, args.patience))
    report = {
        **provenance.provenance(started, load_before),
        "minutes": round((time.monotonic() - t0) / 60, 1),
        "events_per_fault": args.events,
        "faults": [o.as_dict() for o in outcomes],
    }
    if args.cluster:
        from taskfactory_stack.cluster import ClusterSettings

        # The cluster profile runs the Temporal server, not the dev server.
        cluster = ClusterSettings()
        versions = report["versions"]
        versions.pop("Temporal dev server", None)
        report["versions"] = {
            "Temporal server": f"{cluster.temporal_version} ({cluster.history_shards} shards, "
            "PostgreSQL)",
            **versions,
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    text = (
        provenance.heading(report)
        + f" {args.events} events per fault; the whole run took {report['minutes']} minutes."
        + f"\n\n{table(outcomes)}"
    )
    if not args.no_readme and faults == list(catalogue):
        provenance.write_section(f"{name}-table", text)
    print(f"\n{text}\n\nwritten: {out} ({report['minutes']} min)")
    failed = [o.fault for o in outcomes if o.problems()]
    if failed:
        print(f"failed: {', '.join(failed)}; service logs kept in {workdir / 'worlds'}")
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
