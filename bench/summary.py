"""The targets at a glance: every benchmark target, its measured figure and met or not met.

Reads the result files the benchmarks wrote under ``bench/results/`` and rewrites the Summary
table at the top of ``bench/README.md``; each row names the run (date and commit) it comes
from. ``make bench``, ``make chaos`` and ``make soak`` end with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import report

Row = tuple[str, str, str, str]  # what, target, measured, verdict


def _verdict(value: float, target: float) -> str:
    return "**met**" if value >= target else "**not met**"


def _run(result: dict[str, Any]) -> str:
    return f"{result['date'][:16].replace('T', ' ')} UTC, {result['commit']}"


def _thousands(value: float) -> str:
    return f"{round(value):,}".replace(",", " ")


def _codec(r: dict[str, Any]) -> list[Row]:
    rate = r["envelopes_per_cpu_second"]["single-object Avro (v2 writer, v2 reader)"]
    target = r["target"]
    return [
        (
            "Avro decode + validate per core",
            f"≥ {_thousands(target)}/s",
            f"{_thousands(rate)}/s",
            _verdict(rate, target),
        )
    ]


def _ingress(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for key, what, target in (
        ("ingress_over_raw", "ingress starts / raw `start_workflow` (the limit)", 0.95),
        ("ingress_over_naive", "ingress starts / naive consume → start → commit", 5.0),
        ("e2e_over_direct", "events → results / runs started directly → results", 0.90),
    ):
        if key in r:
            rows.append((what, f"≥ {target:g}", f"{r[key]:.2f}", _verdict(r[key], target)))
    if "produce_to_start_seconds" in r:
        p = r["produce_to_start_seconds"]
        rows.append(
            (
                "produce → start acknowledged",
                "reported",
                f"p50 {p['p50']:.1f} s, p99 {p['p99']:.1f} s ({r['events']} published at once)",
                "—",
            )
        )
    if "memory" in r:
        m = r["memory"]
        rows.append(
            (
                f"ingress RSS, {_thousands(m['events'])} records fetched at once",
                "reported",
                f"{m['peak_rss_mib']:.0f} MiB peak ({_thousands(m['peak_in_flight'])} in flight; "
                f"{m['idle_rss_mib']:.0f} MiB idle)",
                "—",
            )
        )
    return rows


def _peers(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for key, what, target in (
        ("taskfactory_over_dbos_accepted", "taskfactory / DBOS, events accepted", 1.0),
        ("taskfactory_e2e_over_dbos_done", "taskfactory / DBOS, one-step workflows done", 0.35),
    ):
        if key in r["ratios"]:
            value = r["ratios"][key]
            rows.append((what, f"≥ {target:g}", f"{value:.2f}", _verdict(value, target)))
    for key, what in (
        ("taskfactory_over_restate_accepted", "taskfactory / Restate, events accepted"),
        ("taskfactory_e2e_over_restate_done", "taskfactory / Restate, invocations done"),
    ):
        if key in r["ratios"]:
            rows.append((what, "side by side", f"{r['ratios'][key]:.2f}", "—"))
    return rows


def _fastpath(r: dict[str, Any]) -> list[Row]:
    events = r["history_events_one_task_run"]
    steady, burst = r["half_capacity_latency_seconds"], r["burst_latency_seconds"]
    rows: list[Row] = [
        (
            "history events of a one-task run (a real history)",
            "≤ 14",
            str(events),
            "**met**" if events <= 14 else "**not met**",
        ),
        (
            "taskfactory end to end / DIY anchor (workflow + activity publishing to Kafka)",
            "≥ 0.9",
            f"{r['taskfactory_over_diy']:.2f}",
            _verdict(r["taskfactory_over_diy"], 0.9),
        ),
    ]
    if "direct_over_before" in r:
        rows.append(
            (
                "the run / the run type of before the fast path (same run, started directly)",
                "≥ 3",
                f"{r['direct_over_before']:.2f}",
                _verdict(r["direct_over_before"], 3.0),
            )
        )
    rows += [
        (
            f"produce → result p50 at half capacity ({r['half_capacity_rate']:.1f} events/s)",
            "≤ 1 s",
            f"p50 {steady['p50']:.2f} s, p99 {steady['p99']:.2f} s",
            "**met**" if steady["p50"] <= 1 else "**not met**",
        ),
        (
            f"produce → result, {r['events_per_contender']} published at once",
            "reported",
            f"p50 {burst['p50']:.1f} s, p99 {burst['p99']:.1f} s",
            "—",
        ),
    ]
    return rows


def _tracing(r: dict[str, Any]) -> list[Row]:
    return [
        (
            "throughput cost of tracing every event",
            "reported",
            f"{r['throughput_overhead']:.0%} (CPU per event {r['cpu_overhead']:+.0%})",
            "—",
        )
    ]


def _chaos(r: dict[str, Any]) -> list[Row]:
    faults = r["faults"]
    bad = [f["fault"] for f in faults if f["problems"]]
    lost = sum(f["lost"] + f.get("lost_run_events", 0) for f in faults)
    duplicated = sum(f["duplicated"] + f.get("duplicated_run_events", 0) for f in faults)
    repeated = ", ".join(
        f"{f['fault']} {f['rounds']} rounds" for f in faults if f.get("rounds", 1) > 1
    )
    return [
        (
            f"chaos: {len(faults)} faults, {r['events_per_fault']} events each"
            + (f" ({repeated})" if repeated else ""),
            "0 lost, 0 duplicated (results and run events)",
            f"{lost} lost, {duplicated} duplicated" + (f" ({', '.join(bad)})" if bad else ""),
            "**met**" if not bad else "**not met**",
        )
    ]


def _soak(r: dict[str, Any]) -> list[Row]:
    growth = max(s["growth_mib_per_hour"] for s in r["rss_mib"].values())
    peak = max(s["peak"] for s in r["rss_mib"].values())
    return [
        (
            f"soak: {r['minutes']:g} min at {r['rate_per_s']:g} events/s",
            "every result, flat memory",
            f"all {r['events']} results; peak RSS {peak:.0f} MiB, growth ≤ {growth:.0f} MiB/h",
            "—",
        )
    ]


SOURCES: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "codec": _codec,
    "ingress": _ingress,
    "peers": _peers,
    "fastpath": _fastpath,
    "tracing": _tracing,
    "chaos": _chaos,
    "soak": _soak,
}


def main() -> None:
    lines = ["| what | target | measured | verdict | run |", "|---|---|---|---|---|"]
    for name, rows in SOURCES.items():
        path = report.RESULTS / f"{name}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        if "commit" not in result:  # written before results carried their provenance
            continue
        for what, target, measured, verdict in rows(result):
            lines.append(f"| {what} | {target} | {measured} | {verdict} | {_run(result)} |")
    report.write_section("summary-table", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
