"""What every benchmark records beside its figures, and how it writes its table into the README.

Each script of ``make bench``, ``make chaos`` and ``make soak`` ends with :func:`record`: it
stores the result as JSON under ``bench/results/`` with :func:`provenance` (date, command line,
commit, machine, versions, load average before and after) and rewrites the script's own section
of ``bench/README.md`` between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``, so the README's
tables always come from one run of that script on the machine it names.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = Path(__file__).parent / "README.md"
RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """Cores and CPU model, memory, OS and Python of this machine."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": f"{os.cpu_count()} cores, {cpu}",
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def commit() -> str:
    """The checkout's short commit, with ``+changes`` when the work tree differs from it."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git(
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":!bench/README.md",
        ":!bench/results",
    )
    return f"{head}+changes" if dirty else head


def load() -> str:
    """The 1, 5 and 15-minute load averages."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def versions() -> dict[str, str]:
    """Versions of what the figures depend on: Temporal, Kafka and the client libraries."""
    temporal = Path(sys.executable).parent / "temporal"
    cli = subprocess.run(
        [str(temporal if temporal.exists() else "temporal"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    server = re.search(r"Server ([\d.]+)", cli)
    found = _temporal_cluster() or {"Temporal dev server": server.group(1) if server else "unknown"}
    found["Kafka"] = _kafka_version()
    for package in ("temporalio", "aiokafka", "fastavro", "pydantic"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _temporal_cluster() -> dict[str, str]:
    """The cluster profile's Temporal server and database, when that profile is the one used."""
    try:
        from taskfactory_stack.cluster import ClusterSettings
        from taskfactory_stack.settings import StackSettings
    except ImportError:
        return {}
    if StackSettings().profile != "cluster":
        return {}
    return {"Temporal server (PostgreSQL, 3 Kafka brokers)": ClusterSettings().temporal_version}


def _kafka_version() -> str:
    try:
        from taskfactory_stack.settings import StackSettings
    except ImportError:
        return "unknown"
    return StackSettings().kafka_version


def provenance(started: datetime, load_before: str) -> dict[str, Any]:
    """The fields every result JSON carries; call when the run is over."""
    return {
        "date": started.isoformat(timespec="seconds"),
        "ended": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]).replace(str(ROOT) + "/", ""),
        "commit": commit(),
        "machine": machine(),
        "versions": versions(),
        "load_before": load_before,
        "load_after": load(),
    }


def heading(result: dict[str, Any]) -> str:
    """One paragraph naming the run a table comes from."""
    m = result["machine"]
    return (
        f"`{result['command']}`, {result['date']} to {result['ended']} (commit "
        f"{result['commit']}), {m['cpu']}, {m['memory_gib']} GiB, Python {m['python']}; "
        f"load average {result['load_before']} before and {result['load_after']} after. "
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + "."
    )


def write_section(name: str, text: str, readme: Path = README) -> None:
    """Replace the README's ``name`` section (its markers must exist) with ``text``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    current = readme.read_text()
    if begin not in current or end not in current:
        raise SystemExit(f"{readme}: markers {begin} … {end} are missing")
    block = f"{begin}\n{text.strip()}\n{end}"
    pattern = re.escape(begin) + ".*?" + re.escape(end)
    readme.write_text(re.sub(pattern, lambda _: block, current, flags=re.S))


def record(
    name: str,
    figures: dict[str, Any],
    table: Callable[[dict[str, Any]], str],
    started: datetime,
    load_before: str,
    args: argparse.Namespace,
    *,
    readme: bool = True,
    show_json: bool = False,
) -> dict[str, Any]:
    """End a benchmark run: its figures with :func:`provenance`, written to ``args.out``
    (default ``results/NAME.json``); its table printed and written into the README's
    ``NAME-table`` section unless ``args.no_readme`` or not ``readme``. Returns the result
    (figures override provenance fields)."""
    result = {**provenance(started, load_before), **figures}
    path = getattr(args, "out", None) or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    if show_json:
        print(json.dumps(result, indent=2))
    text = table(result)
    if readme and not getattr(args, "no_readme", False):
        write_section(f"{name}-table", text)
    print(text)
    return result
