"""The scale curve on the cluster profile: history shards x replicas, in one run.

For each history-shard count (``--shards``, default 1,4,16) the local stack's cluster profile
(three KRaft brokers, topics at replication factor 3, Temporal server on PostgreSQL) is started
with that ``numHistoryShards`` (its databases re-created), then, for each replica count
(``--replicas``, default 1,2,4), measured round-robin for ``--repeat`` rounds:

- ``ingress``: starts/s of that many ingress replicas in one consumer group;
- ``e2e``: one-task runs/s end to end with that many replicas of every service;
- ``naive`` (once per shard count): consume one record, await its start, commit, repeat.

While each measurement runs, a sampler reads every process's CPU time from ``/proc`` once a
second and sums it by role (ingress, orchestrator, executor, Temporal server, PostgreSQL, each
Kafka broker, the bench itself), so the table says which process sits at 100 % of a core. From
the CPU seconds all processes spend per completed run it gives the model that predicts a bigger
machine. Writes ``bench/results/scale.json`` and the scale table of ``bench/README.md``. Stops
the cluster profile at the end if it started it; run it on an otherwise quiet machine with the
default profile stopped (``make stack-down``): ``make bench-scale``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import ingress_bench as bench
import report
from cpu import Sampler
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.leftovers import ending_leftovers
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack

SHARDS_ENV = "TASKFACTORY_STACK_CLUSTER_HISTORY_SHARDS"


async def _measure(
    what: Callable[[], Awaitable[float]], events: int
) -> tuple[float, dict[str, Any]]:
    sampler = Sampler()
    bench.MEASURE = sampler.running  # the burst only: not the services' start or the warm-up
    try:
        rate = await what()
    finally:
        bench.MEASURE = nullcontext
    return rate, sampler.summary(events)


def _median(samples: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    """The median rate and the CPU picture of the run that gave it."""
    ordered = sorted(samples, key=lambda s: s[0])
    rate, cpu = ordered[len(ordered) // 2]
    return {
        "per_s": round(statistics.median(s[0] for s in samples), 1),
        "samples": [round(s[0], 1) for s in samples],
        "median_run": {"per_s": round(rate, 1), **cpu},
    }


async def _one_shard_count(
    shards: int, replicas: list[int], args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    os.environ[SHARDS_ENV] = str(shards)
    stack = Stack(StackSettings(profile="cluster"))
    print(f"scale: cluster profile with {shards} history shards …", flush=True)
    # A different shard count re-creates Temporal's databases, which needs the server stopped.
    await asyncio.to_thread(stack.down)
    await asyncio.to_thread(stack.up)
    bench.TEMPORAL = stack.temporal_address
    bench.REPLICATION = stack.replication_factor
    kafka = KafkaSettings(bootstrap_servers=stack.kafka_bootstrap)
    client = await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)
    samples: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    async with ending_leftovers(client, [bench.MARK], who=f"scale_bench ({shards} shards)"):
        await _rounds(kafka, client, replicas, args, tmp, samples)
    return {k: _median(v) for k, v in samples.items()}


async def _rounds(
    kafka: KafkaSettings,
    client: Client,
    replicas: list[int],
    args: argparse.Namespace,
    tmp: Path,
    samples: dict[str, list[tuple[float, dict[str, Any]]]],
) -> None:
    for round_ in range(args.repeat):
        for count in replicas:
            samples.setdefault(f"ingress-{count}", []).append(
                await _measure(
                    partial(bench.ingress, kafka, client, args.events, tmp, [], replicas=count),
                    args.events,
                )
            )
            samples.setdefault(f"e2e-{count}", []).append(
                await _measure(
                    partial(bench.e2e, kafka, client, args.e2e_events, tmp, [], replicas=count),
                    args.e2e_events,
                )
            )
        naive_n = max(100, args.events // 5)
        samples.setdefault("naive", []).append(
            await _measure(partial(bench.naive, kafka, client, naive_n, tmp), naive_n)
        )
        print(
            f"  round {round_ + 1}: "
            + ", ".join(f"{k} {v[-1][0]:.0f}/s" for k, v in samples.items()),
            flush=True,
        )


def _table(result: dict[str, Any]) -> str:
    replicas = result["replicas"]
    lines = [
        report.heading(result),
        "",
        "| history shards | naive starts/s | "
        + " | ".join(f"ingress x{r} starts/s" for r in replicas)
        + " | ingress ÷ naive (best) | "
        + " | ".join(f"e2e x{r} runs/s" for r in replicas)
        + " |",
        "|---:|---:|" + "---:|" * (2 * len(replicas) + 1),
    ]
    for shards, by in result["curve"].items():
        ingress = [by[f"ingress-{r}"]["per_s"] for r in replicas]
        e2e = [by[f"e2e-{r}"]["per_s"] for r in replicas]
        ratio = max(ingress) / by["naive"]["per_s"]
        lines.append(
            f"| {shards} | {by['naive']['per_s']:.0f} | "
            + " | ".join(f"{v:.0f}" for v in ingress)
            + f" | {ratio:.1f} | "
            + " | ".join(f"{v:.1f}" for v in e2e)
            + " |"
        )
    lines += ["", "Where the time goes (median run; share of one core, busiest roles first):", ""]
    for shards, by in result["curve"].items():
        for key in (f"ingress-{replicas[-1]}", f"e2e-{replicas[-1]}"):
            run = by[key]["median_run"]
            busy = ", ".join(f"{k} {v:.2f}" for k, v in list(run["cores_busy"].items())[:6])
            lines.append(
                f"- {shards} shards, {key.replace('-', ' x')}: {busy}; "
                f"{run['cpu_ms_per_run']:.0f} ms of CPU per run"
            )
    model = result["model"]
    lines += [
        "",
        f"Model: an end-to-end one-task run costs {model['cpu_ms_per_run']:.0f} ms of CPU over all "
        f"processes (median over the e2e runs), so C cores complete about "
        f"C x {model['runs_per_core_s']:.0f} runs/s while Temporal's history shards keep up; "
        f"one shard alone gave {model['one_shard_e2e']:.1f} runs/s here.",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", default="1,4,16", help="history-shard counts")
    parser.add_argument("--replicas", default="1,2,4", help="replica counts")
    parser.add_argument("--events", type=int, default=1500, help="events per ingress run")
    parser.add_argument("--e2e-events", type=int, default=300, help="events per e2e run")
    parser.add_argument("--repeat", type=int, default=2, help="rounds per shard count")
    parser.add_argument("--out", type=Path, default=report.RESULTS / "scale.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started, load_before = datetime.now(UTC), report.load()
    shard_counts = [int(s) for s in args.shards.split(",") if s]
    replicas = [int(r) for r in args.replicas.split(",") if r]
    was_running = Stack(StackSettings(profile="cluster")).status()
    curve: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            for shards in shard_counts:
                curve[str(shards)] = await _one_shard_count(shards, replicas, args, Path(tmpdir))
    finally:
        if not any(s.pid for s in was_running):
            await asyncio.to_thread(Stack(StackSettings(profile="cluster")).down)
    e2e_cpu = [
        run["median_run"]["cpu_ms_per_run"]
        for by in curve.values()
        for key, run in by.items()
        if key.startswith("e2e-")
    ]
    cpu_ms = statistics.median(e2e_cpu)
    figures: dict[str, Any] = {
        "events": args.events,
        "e2e_events": args.e2e_events,
        "repeat": args.repeat,
        "replicas": replicas,
        "curve": curve,
        "model": {
            "cpu_ms_per_run": cpu_ms,
            "runs_per_core_s": 1000 / cpu_ms,
            "one_shard_e2e": curve.get("1", {}).get(f"e2e-{replicas[0]}", {}).get("per_s", 0.0),
        },
    }
    report.record("scale", figures, _table, started, load_before, args)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
