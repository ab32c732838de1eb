"""``make chaos``: every fault, one after another, against a private Kafka and Temporal.

It starts its own Kafka broker (KRaft) and Temporal dev server on free ports in a temporary
folder (never the shared stack on 9092/7233, since it stops and restarts them), then runs each
fault scenario of ``taskfactory_stack.chaos`` with ``--events`` events: the same code the
chaos tests run with fewer. Each scenario counts runs, results per task, run events by id, dead
letters and the ingress group's lag, and times the recovery (fault cleared → lag zero and every
result). ``--rounds executor-sigkill=10`` repeats a fault, each round on fresh topics, group,
task queues and ids; the table has one row per fault with the totals over its rounds.
Writes ``bench/results/chaos.json`` and prints the table for ``bench/README.md``.

``--cluster`` (``make chaos-cluster``) runs the faults only a cluster has instead, on the local
stack's cluster profile (three brokers, Temporal on PostgreSQL; started if not running, stopped
afterwards if it was started here): ``bench/results/chaos-cluster.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import report as provenance
from temporalio.client import Client

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.chaos.cluster_faults import CLUSTER_FAULTS
from taskfactory_stack.chaos.faults import FAULTS
from taskfactory_stack.chaos.tally import parse_rounds, table, tally
from taskfactory_stack.chaos.target import Outcome, Target, private_kafka, private_temporal
from taskfactory_stack.leftovers import ending_leftovers, new_mark

#: What every id, topic and task queue of this run's scenarios starts with.
MARK = new_mark("c")


async def _each(target: Target, events: int, faults: list[str]) -> list[Outcome]:
    catalogue = {**FAULTS, **CLUSTER_FAULTS}
    outcomes: list[Outcome] = []
    for k, name in enumerate(faults):
        began = time.monotonic()
        round_ = faults[: k + 1].count(name)
        try:
            outcome = await catalogue[name](target, events)
        except Exception as exc:  # one broken scenario must not hide the others' results
            traceback.print_exc()
            outcome = Outcome(name, events, notes=[f"{type(exc).__name__}: {exc}"])
        outcomes.append(outcome)
        verdict = "ok" if not outcome.problems() else "FAIL " + "; ".join(outcome.problems())
        print(
            f"  {name:<22} #{round_:<2} {time.monotonic() - began:5.0f}s  recovery "
            f"{outcome.recovery_seconds}s  lost {outcome.lost}+{outcome.lost_run_events} "
            f"dup {outcome.duplicated}+{outcome.duplicated_run_events} (results+run events)  "
            f"checks {outcome.publish_checks_found}/{outcome.publish_checks}  {verdict}",
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
        "--rounds",
        default="",
        metavar="FAULT=N,…",
        help="repeat these faults N times each, every round on fresh topics, group, queues and "
        "ids (the others run once); the table sums each fault's rounds and fails if any "
        "round failed; make chaos: executor-sigkill=10,orchestrator-restart=10",
    )
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
    chosen = [f for f in args.only.split(",") if f] or list(catalogue)
    unknown = sorted(set(chosen) - set(catalogue))
    if unknown:
        parser.error(
            f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(catalogue)}"
            + ("" if args.cluster else f" (with --cluster: {', '.join(CLUSTER_FAULTS)})")
        )
    try:
        rounds = parse_rounds(args.rounds, list(catalogue))
    except ValueError as exc:
        parser.error(str(exc))
    faults = [f for f in chosen for _ in range(rounds.get(f, 1))]
    name = "chaos-cluster" if args.cluster else "chaos"
    workdir = Path(tempfile.mkdtemp(prefix="taskfactory-chaos-"))
    started, load_before = datetime.now(UTC), provenance.load()
    t0 = time.monotonic()
    runner = run_cluster if args.cluster else run
    outcomes = asyncio.run(runner(args.events, faults, workdir, args.patience))
    tallies = tally(outcomes)
    figures: dict[str, Any] = {
        "minutes": round((time.monotonic() - t0) / 60, 1),
        "events_per_fault": args.events,
        "rounds": {t.fault: len(t.rounds) for t in tallies},
        "faults": [t.as_dict() for t in tallies],
    }
    if args.cluster:
        from taskfactory_stack.cluster import ClusterSettings

        # The cluster profile runs the Temporal server, not the dev server.
        cluster = ClusterSettings()
        versions = provenance.versions()
        versions.pop("Temporal dev server", None)
        figures["versions"] = {
            "Temporal server": f"{cluster.temporal_version} ({cluster.history_shards} shards, "
            "PostgreSQL)",
            **versions,
        }

    def text(result: dict[str, Any]) -> str:
        repeated = ", ".join(f"{t.fault} {len(t.rounds)}" for t in tallies if len(t.rounds) > 1)
        return (
            provenance.heading(result)
            + f" {args.events} events per fault and round"
            + (f" (rounds: {repeated}; the others once)" if repeated else "")
            + f"; the whole run took {result['minutes']} minutes.\n\n{table(tallies)}"
        )

    everything = chosen == list(catalogue)  # a run of only some faults never writes the README
    provenance.record(name, figures, text, started, load_before, args, readme=everything)
    failed = [t.fault for t in tallies if t.problems()]
    if failed:
        print(f"failed: {', '.join(failed)}; service logs kept in {workdir / 'worlds'}")
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
