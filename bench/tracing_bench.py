"""Tracing overhead: ingress throughput with every trace sampled and exported vs tracing off.

Both modes run the real ingress process of ``ingress_bench.ingress`` (same events, same
6-partition topic, one-event warm-up, measured from the first produce to the last commit)
with the OTLP exporter pointed at the stack's Jaeger; only the sampling differs:
``TASKFACTORY_TRACING__SAMPLE_RATIO=1.0`` (``traced``) or ``0.0`` (``off``; the bench's events
carry no ``traceparent``, so nothing is recorded or exported). The modes alternate, their order
flipping every round (ABBA), for ``--repeat`` rounds. Afterwards Jaeger must hold the
ingress's spans of every traced run and none of an untraced one, or the figures are void.
Prints and writes median and spread per mode, the overhead of the medians and the ingress's
CPU time per event to ``bench/results/tracing.json`` and the Tracing overhead table of
``bench/README.md``. Needs the local stack with Jaeger.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import report
from ingress_bench import KAFKA, MARK, TEMPORAL, _summary, ingress
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.leftovers import ending_leftovers
from taskfactory_stack.settings import StackSettings

MODES = {"traced": "1.0", "off": "0.0"}
INGRESS_SERVICE = "taskfactory-ingress"


def _otlp_and_ui() -> tuple[str, str]:
    stack = StackSettings()
    otlp = os.environ.get(
        "TASKFACTORY_OTLP_ENDPOINT", f"http://127.0.0.1:{stack.jaeger_otlp_grpc_port}"
    )
    ui = os.environ.get("TASKFACTORY_JAEGER_UI", f"http://127.0.0.1:{stack.jaeger_ui_port}")
    return otlp, ui


async def _bench_trace_starts(ui: str) -> list[float]:
    """Start times (epoch s) of the ingress spans Jaeger holds for the bench's topics.

    ``ingress_bench`` names every run's topic ``<MARK>ing-<hex>.events`` (``MARK`` is this
    process's own); the ingress's process span is ``<topic> process``. One trace per topic is
    enough to place a run in time.
    """
    async with httpx.AsyncClient(timeout=30) as http:
        ops = await http.get(f"{ui}/api/services/{INGRESS_SERVICE}/operations")
        ops.raise_for_status()
        names = [op["name"] if isinstance(op, dict) else op for op in ops.json().get("data") or []]
        starts = []
        for name in names:
            if not (name.startswith(f"{MARK}ing-") and name.endswith(".events process")):
                continue
            found = await http.get(
                f"{ui}/api/traces",
                params={
                    "service": INGRESS_SERVICE,
                    "operation": name,
                    "lookback": "6h",
                    "limit": "1",
                },
            )
            found.raise_for_status()
            for trace in found.json().get("data") or []:
                starts += [s["startTime"] / 1e6 for s in trace["spans"]]
    return starts


async def _check_sampling(ui: str, windows: dict[str, list[tuple[float, float]]]) -> None:
    """Every traced run left spans in Jaeger and no untraced one did (waits for export)."""
    deadline = time.monotonic() + 60
    while True:
        starts = await _bench_trace_starts(ui)

        def seen(window: tuple[float, float], starts: list[float] = starts) -> bool:
            return any(window[0] <= s <= window[1] for s in starts)

        traced = [seen(w) for w in windows["traced"]]
        off = [seen(w) for w in windows["off"]]
        if any(off):
            raise SystemExit("tracing off, yet Jaeger holds ingress spans of that run")
        if all(traced):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"traced runs without spans in Jaeger: {traced}")
        await asyncio.sleep(1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=report.RESULTS / "tracing.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args()
    started, load_before = datetime.now(UTC), report.load()
    otlp, ui = _otlp_and_ui()
    kafka = KafkaSettings(bootstrap_servers=KAFKA)
    client = await Client.connect(TEMPORAL, data_converter=pydantic_data_converter)
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    windows: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    async with ending_leftovers(client, [MARK], who="tracing_bench"):
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            for round_ in range(args.repeat):
                order = list(MODES) if round_ % 2 == 0 else list(reversed(MODES))
                for mode in order:
                    env = {
                        "TASKFACTORY_TRACING__OTLP_ENDPOINT": otlp,
                        "TASKFACTORY_TRACING__SAMPLE_RATIO": MODES[mode],
                    }
                    t0 = time.time()
                    rate = await ingress(
                        kafka, client, args.events, tmp, [], env=env, cpu_per_event=cpu[mode]
                    )
                    windows[mode].append((t0, time.time()))
                    rates[mode].append(rate)
                print(
                    f"round {round_ + 1}: "
                    + ", ".join(f"{mode} {values[-1]:.0f}/s" for mode, values in rates.items()),
                    flush=True,
                )
    await _check_sampling(ui, windows)
    traced, off = (statistics.median(rates[m]) for m in ("traced", "off"))
    figures: dict[str, Any] = {
        "events": args.events,
        "repeat": args.repeat,
        "otlp_endpoint": otlp,
        "rates_per_s": {mode: {**_summary(v), "runs": v} for mode, v in rates.items()},
        "cpu_ms_per_event": {
            mode: _summary([c * 1000 for c in values]) for mode, values in cpu.items()
        },
        "throughput_overhead": 1 - traced / off,
        "cpu_overhead": statistics.median(cpu["traced"]) / statistics.median(cpu["off"]) - 1,
    }
    report.record("tracing", figures, _table, started, load_before, args, show_json=True)


def _table(result: dict[str, Any]) -> str:
    label = {"off": "off (ratio 0.0)", "traced": "every event (ratio 1.0)"}
    lines = [
        report.heading(result)
        + f" {result['events']} events per run, {result['repeat']} rounds (ABBA).",
        "",
        "| sampling | starts / s, median | min to max | ingress CPU per event, median |",
        "|---|---:|---:|---:|",
    ]
    for mode in ("off", "traced"):
        rate, cpu = result["rates_per_s"][mode], result["cpu_ms_per_event"][mode]
        lines.append(
            f"| {label[mode]} | {rate['median']:.0f} | {rate['min']:.0f} to {rate['max']:.0f} "
            f"| {cpu['median']:.1f} ms |"
        )
    lines += [
        "",
        f"- throughput overhead of tracing every event: **{result['throughput_overhead']:.0%}**",
        f"- CPU per event: **{result['cpu_overhead']:+.0%}**",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
